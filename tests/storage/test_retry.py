"""The shared retry policy: Retry-After parsing and policy validation."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s5vec.errors import NotFound, RetryableStorageError
from s5vec.storage.retry import RetryPolicy, parse_retry_after

NOW = 1_700_000_000.0


def test_delta_seconds() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0


def test_http_date_in_the_future() -> None:
    header = email.utils.formatdate(NOW + 30, usegmt=True)
    assert parse_retry_after(header, now=NOW) == 30.0


def test_http_date_in_the_past_means_no_wait() -> None:
    header = email.utils.formatdate(NOW - 30, usegmt=True)
    assert parse_retry_after(header, now=NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "²", "Mon, 99 Foo 2024"])
def test_unusable_values_give_no_hint(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


@given(st.text(max_size=64))
def test_any_header_text_parses_or_gives_none(value: str) -> None:
    result = parse_retry_after(value, now=NOW)
    assert result is None or result >= 0


def test_negative_retries_are_rejected() -> None:
    with pytest.raises(ValueError, match="retries"):
        RetryPolicy(retries=-1, timeout_s=1)


def test_non_positive_timeout_is_rejected() -> None:
    with pytest.raises(ValueError, match="timeout"):
        RetryPolicy(retries=0, timeout_s=0)


async def test_policy_retries_only_retryable_errors() -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    policy = RetryPolicy(retries=5, timeout_s=1, backoff_base_s=0.01, sleep=record)
    outcomes: list[Exception] = [RetryableStorageError(), NotFound()]

    async def attempt() -> bytes:
        raise outcomes.pop(0)

    with pytest.raises(NotFound):
        await policy.call(attempt)
    assert len(waits) == 1


async def test_before_retry_is_awaited_before_each_retry_only() -> None:
    order: list[str] = []

    async def no_wait(seconds: float) -> None:
        order.append("sleep")

    async def take_token() -> None:
        order.append("token")

    policy = RetryPolicy(retries=5, timeout_s=1, sleep=no_wait, before_retry=take_token)
    outcomes: list[Exception | None] = [RetryableStorageError(), RetryableStorageError(), None]

    async def attempt() -> bytes:
        order.append("attempt")
        failure = outcomes.pop(0)
        if failure is not None:
            raise failure
        return b"ok"

    assert await policy.call(attempt) == b"ok"
    assert order == ["attempt", "sleep", "token", "attempt", "sleep", "token", "attempt"]
