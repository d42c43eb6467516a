"""FakeMemoryStorage's fault hooks, which loader unit tests rely on."""

from __future__ import annotations

import asyncio

import pytest

from s5vec.errors import PermanentStorageError, RetryableStorageError
from s5vec.storage.memory import FakeMemoryStorage


async def test_initial_files_are_validated_and_served() -> None:
    storage = FakeMemoryStorage({"a/b": b"1"})
    assert await storage.get("a/b") == b"1"
    with pytest.raises(PermanentStorageError):
        FakeMemoryStorage({"../x": b"1"})


async def test_scripted_errors_play_in_order_then_calls_succeed() -> None:
    storage = FakeMemoryStorage({"f": b"data"})
    storage.script_errors("f", [RetryableStorageError(), None, PermanentStorageError()])
    with pytest.raises(RetryableStorageError):
        await storage.get("f")
    assert await storage.get("f") == b"data"
    with pytest.raises(PermanentStorageError):
        await storage.get("f")
    assert await storage.get("f") == b"data"
    assert storage.calls == [("get", "f")] * 4


async def test_scripts_apply_only_to_their_path() -> None:
    storage = FakeMemoryStorage({"f": b"1", "g": b"2"})
    storage.script_errors("f", [RetryableStorageError()])
    assert await storage.get("g") == b"2"


async def test_delay_holds_the_call_until_it_passes() -> None:
    storage = FakeMemoryStorage({"slow": b"1", "fast": b"2"})
    storage.set_delay("slow", 30)
    slow = asyncio.create_task(storage.get("slow"))
    assert await storage.get("fast") == b"2"
    await asyncio.sleep(0)
    assert not slow.done()
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow


async def test_stored_bytes_are_copied() -> None:
    storage = FakeMemoryStorage()
    buffer = bytearray(b"abc")
    await storage.put("f", bytes(buffer))
    buffer[0] = 0
    assert await storage.get("f") == b"abc"


def test_remote_flag_is_settable_for_rate_limit_tests() -> None:
    assert FakeMemoryStorage().remote is False
    assert FakeMemoryStorage(remote=True).remote is True
