"""The loader's small parts: payloads, status, pre-flight, rate gate, config."""

from __future__ import annotations

import asyncio

import pytest
from aiolimiter import AsyncLimiter
from hypothesis import given
from hypothesis import strategies as st

from s5vec.errors import MemoryLimitExceeded, OwnerMismatch, RateLimitExceeded
from s5vec.loader import LoaderConfig, LoadState, LoadStatus, estimated_bytes
from s5vec.loader.events import chunk_downloaded, loading_error
from s5vec.loader.preflight import check_memory
from s5vec.loader.ratelimit import RateGate


@given(total=st.integers(1, 10_000), data=st.data())
def test_percent_is_the_floor_of_chunks_done(total: int, data: st.DataObject) -> None:
    done = data.draw(st.integers(1, total))
    event = chunk_downloaded(chunk_id=0, done=done, total=total)
    assert event["percent"] == (100 * done) // total
    assert 0 <= event["percent"] <= 100
    assert event["message"].endswith(f"% ({done}/{total})")


def test_chunk_event_has_exactly_the_spec_fields() -> None:
    assert chunk_downloaded(3, 4, 10) == {
        "event": "chunk_downloaded",
        "chunk_id": 3,
        "total": 10,
        "percent": 40,
        "message": "Downloading chunks... 40% (4/10)",
    }


def test_error_event_carries_code_and_user_message() -> None:
    event = loading_error(OwnerMismatch())
    assert event["error_code"] == "OWNER_MISMATCH"
    assert event["error"] == OwnerMismatch.default_message


def test_status_goes_not_started_loading_loaded() -> None:
    status = LoadStatus()
    assert status.to_dict() == {"state": "not_started"}
    status.mark_loading()
    assert status.to_dict() == {"state": "loading"}
    status.mark_loaded(12, 34)
    assert status.to_dict() == {"state": "loaded", "vector_count": 12, "load_time_ms": 34}
    with pytest.raises(RuntimeError):
        status.mark_error("TIMEOUT", "late")


def test_status_error_keeps_code_and_message() -> None:
    status = LoadStatus()
    status.mark_loading()
    status.mark_error("TIMEOUT", "too slow")
    assert status.state is LoadState.ERROR
    assert status.to_dict() == {"state": "error", "code": "TIMEOUT", "message": "too slow"}
    with pytest.raises(RuntimeError):
        status.mark_loading()


def test_preflight_counts_float32_components_plus_256_bytes() -> None:
    assert estimated_bytes(100_000, 384) == 100_000 * (384 * 4 + 256)
    check_memory(100_000, 384, estimated_bytes(100_000, 384))
    with pytest.raises(MemoryLimitExceeded) as info:
        check_memory(100_000, 384, estimated_bytes(100_000, 384) - 1)
    assert "MiB" in info.value.message


async def test_rate_gate_refuses_a_wait_past_the_deadline_at_once() -> None:
    gate = RateGate(AsyncLimiter(1, 3600))
    loop = asyncio.get_running_loop()
    await gate.acquire(loop.time() + 60)
    with pytest.raises(RateLimitExceeded):
        await gate.acquire(loop.time() + 60)


async def test_rate_gate_waits_for_a_slot_within_the_deadline() -> None:
    gate = RateGate(AsyncLimiter(1, 0.05))  # a slot every 50 ms
    loop = asyncio.get_running_loop()
    await gate.acquire(loop.time() + 60)
    await gate.acquire(loop.time() + 60)


async def test_rate_gate_counts_the_queue_ahead() -> None:
    limiter = AsyncLimiter(1, 1.0)  # one slot a second
    gate = RateGate(limiter)
    loop = asyncio.get_running_loop()
    await gate.acquire(loop.time() + 60)
    first = asyncio.create_task(gate.acquire(loop.time() + 60))
    await asyncio.sleep(0)
    # Second in the queue: about two seconds away, past a deadline 1.5 s from now.
    with pytest.raises(RateLimitExceeded):
        await gate.acquire(loop.time() + 1.5)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first


@pytest.mark.parametrize(
    "changes",
    [
        {"max_parallel_chunks": 0},
        {"download_timeout_s": 0},
        {"loading_timeout_s": -1},
        {"memory_limit_bytes": -1},
    ],
)
def test_config_refuses_nonsense(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by field
        LoaderConfig(**changes)  # type: ignore[arg-type]
