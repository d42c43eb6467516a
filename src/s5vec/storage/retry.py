"""The one retry policy of the remote backends (SPEC section 3): tenacity, backoff with jitter.

Only ``RetryableStorageError`` is retried (timeouts, connection errors, truncated bodies, 5xx,
429); ``NotFound`` and ``PermanentStorageError`` pass straight through. A file gets at most
``retries`` retries. A server's ``Retry-After`` hint replaces the backoff for that wait,
capped at the per-file timeout.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from s5vec.errors import RetryableStorageError

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]
BeforeRetry = Callable[[], Awaitable[object]]
"""Awaited before every retry (not the first attempt): e.g. a rate limiter's ``acquire``, so
retries spend the backend's request budget like first attempts do."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), else None."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT; a zone-less parse means the sender meant GMT.
        return None
    current = time.time() if now is None else now
    delay = when.timestamp() - current
    return max(0.0, delay) if math.isfinite(delay) else None


class wait_retry_after(wait_base):  # noqa: N801 - named like tenacity's own wait strategies
    """Wait the ``Retry-After`` hint (capped at ``cap_s``) when one came, else ``fallback``."""

    def __init__(self, fallback: wait_base, cap_s: float) -> None:
        self.fallback = fallback
        self.cap_s = cap_s

    def __call__(self, retry_state: RetryCallState) -> float:
        """Seconds to sleep before the next attempt."""
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RetryableStorageError) and exc.retry_after is not None:
            return min(max(0.0, exc.retry_after), self.cap_s)
        return self.fallback(retry_state)


@dataclass(frozen=True)
class RetryPolicy:
    """How one file fetch is retried; the backoff knobs are injectable so tests run fast."""

    retries: int
    timeout_s: float
    backoff_base_s: float = 0.5
    backoff_max_s: float = 10.0
    sleep: Sleep = field(default=asyncio.sleep)
    before_retry: BeforeRetry | None = None

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError("retries must be >= 0")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")

    def retrying(self) -> AsyncRetrying:
        """A fresh tenacity controller for one file."""
        backoff = wait_random_exponential(multiplier=self.backoff_base_s, max=self.backoff_max_s)
        return AsyncRetrying(
            sleep=self.sleep,
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_retry_after(backoff, cap_s=self.timeout_s),
            retry=retry_if_exception_type(RetryableStorageError),
            reraise=True,
        )

    async def call(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt`` until it succeeds, fails for good, or the retries are used up."""

        attempts = 0

        async def run() -> T:
            # tenacity tells sync from async by the callable itself; a lambda returning an
            # awaitable would look sync, so wrap it in a real coroutine function.
            nonlocal attempts
            attempts += 1
            if attempts > 1 and self.before_retry is not None:
                await self.before_retry()
            return await attempt()

        result: T = await self.retrying()(run)
        return result
