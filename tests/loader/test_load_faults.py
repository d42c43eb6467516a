"""Storage faults, timeouts, rate limits, cancellation and internal errors (SPEC 3 and 7)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiolimiter import AsyncLimiter

from s5vec.errors import PermanentStorageError, RetryableStorageError, S5VecError
from s5vec.formats.paths import chunk_path
from s5vec.loader import (
    LoaderConfig,
    LoadRequest,
    LoadState,
    LoadStatus,
    Outcome,
    ProgressEvent,
    VectorLoader,
)
from s5vec.storage.memory import FakeMemoryStorage
from tests.loader.conftest import LoaderMaker
from tests.loader.dbs import OWNER, chunk_paths, database, db_path
from tests.loader.fakes import (
    BrokenIndex,
    CountingStorage,
    Events,
    GatedStorage,
    IndexFactory,
    RecordingObserver,
    until,
)

PATH = db_path()


def memory_store(remote: bool = False, **changes: Any) -> FakeMemoryStorage:
    """A fake store holding the default test database."""
    return FakeMemoryStorage(database(**changes), remote=remote)


async def load_code(loader_maker: LoaderMaker, storage: Any, **changes: Any) -> str:
    """Run a failing load; return its code after checking the single terminal event."""
    events = Events()
    with pytest.raises(S5VecError) as info:
        await loader_maker(storage, **changes).load(LoadRequest(PATH, OWNER), events)
    assert events.terminal == [events.items[-1]]
    assert events.items[-1]["error_code"] == info.value.code
    return info.value.code


@pytest.mark.parametrize(
    "error", [RetryableStorageError(), PermanentStorageError()], ids=["retryable", "permanent"]
)
async def test_manifest_fetch_failure_is_manifest_download_failed(
    new_loader: LoaderMaker, error: Exception
) -> None:
    storage = memory_store()
    storage.script_errors(PATH, [error])
    assert await load_code(new_loader, storage) == "MANIFEST_DOWNLOAD_FAILED"


async def test_chunk_fetch_failure_is_chunk_download_failed(
    new_loader: LoaderMaker, factory: IndexFactory, observer: RecordingObserver
) -> None:
    storage = memory_store()
    storage.script_errors(chunk_path(PATH, 2), [RetryableStorageError()])
    assert await load_code(new_loader, storage) == "CHUNK_DOWNLOAD_FAILED"
    assert all(index.closed for index in factory.made)
    assert "UNAVAILABLE" in observer.downloads
    assert observer.outcomes == [Outcome.FAILURE]


async def test_slow_store_times_out_and_frees_the_partial_index(
    new_loader: LoaderMaker, factory: IndexFactory, observer: RecordingObserver
) -> None:
    storage = memory_store()
    storage.set_delay(chunk_path(PATH, 1), 30.0)
    status = LoadStatus()
    events = Events()
    with pytest.raises(S5VecError) as info:
        await new_loader(storage, loading_timeout_s=0.5).load(
            LoadRequest(PATH, OWNER), events, status=status
        )
    assert info.value.code == "TIMEOUT"
    assert events.terminal[0]["error_code"] == "TIMEOUT"
    assert status.error_code == "TIMEOUT"
    assert [index.closed for index in factory.made] == [True]
    assert observer.outcomes == [Outcome.TIMEOUT]


async def test_rate_limit_wait_past_the_deadline_is_rate_limit_exceeded(
    new_loader: LoaderMaker, factory: IndexFactory
) -> None:
    storage = memory_store(remote=True)
    limiter = AsyncLimiter(2, 3600)  # two requests an hour: the manifest and one chunk
    code = await load_code(new_loader, storage, storage_limiter=limiter)
    assert code == "RATE_LIMIT_EXCEEDED"
    assert len(storage.calls) <= 2
    assert all(index.closed for index in factory.made)


async def test_remote_store_within_its_rate_limit_loads(new_loader: LoaderMaker) -> None:
    storage = memory_store(remote=True)
    limiter = AsyncLimiter(100, 60)
    handle = await new_loader(storage, storage_limiter=limiter).load(
        LoadRequest(PATH, OWNER), Events()
    )
    assert handle.vector_count == 12
    assert not limiter.has_capacity(97)  # four requests took capacity


async def test_local_store_is_not_rate_limited(new_loader: LoaderMaker) -> None:
    storage = memory_store(remote=False)
    handle = await new_loader(storage, storage_limiter=AsyncLimiter(1, 3600)).load(
        LoadRequest(PATH, OWNER), Events()
    )
    assert handle.vector_count == 12


async def test_index_library_failure_is_index_build_failed(
    cache: Any, observer: RecordingObserver
) -> None:
    factory = IndexFactory(BrokenIndex)
    loader = VectorLoader(memory_store(), cache, factory, LoaderConfig(), observer=observer)
    events = Events()
    with pytest.raises(S5VecError) as info:
        await loader.load(LoadRequest(PATH, OWNER), events)
    loader.close()
    assert info.value.code == "INDEX_BUILD_FAILED"
    assert [index.closed for index in factory.made] == [True]


class ExplodingStorage(FakeMemoryStorage):
    """A store with a bug: reading a chunk raises something outside the storage taxonomy."""

    async def get(self, path: str) -> bytes:
        if "chunk-1" in path:
            raise ZeroDivisionError("bug")
        return await super().get(path)


async def test_unexpected_exception_is_internal_error_with_a_logged_trace_id(
    new_loader: LoaderMaker, caplog: pytest.LogCaptureFixture
) -> None:
    storage = ExplodingStorage(database())
    events = Events()
    with caplog.at_level(logging.ERROR), pytest.raises(S5VecError) as info:
        await new_loader(storage).load(LoadRequest(PATH, OWNER), events)
    error = info.value
    assert error.code == "INTERNAL_ERROR"
    trace_id = getattr(error, "trace_id", None)
    assert trace_id is not None
    assert trace_id in events.items[-1]["error"]
    assert any(trace_id in record.getMessage() and record.exc_info for record in caplog.records)


async def test_invalid_path_is_refused_before_any_fetch(new_loader: LoaderMaker) -> None:
    storage = memory_store()
    events = Events()
    with pytest.raises(S5VecError) as info:
        await new_loader(storage).load(
            LoadRequest("home/vector-databases/../manifest.json", OWNER), events
        )
    assert info.value.code == "INVALID_PATH"
    assert storage.calls == []


async def test_cancel_mid_load_cancels_fetches_and_frees_the_index(
    new_loader: LoaderMaker, factory: IndexFactory, observer: RecordingObserver
) -> None:
    files = database((4, 3, 5, 2))
    gated = GatedStorage(FakeMemoryStorage(files))
    for path in chunk_paths(files)[1:]:
        gated.hold(path)
    events, status = Events(), LoadStatus()
    task = asyncio.create_task(
        new_loader(gated).load(LoadRequest(PATH, OWNER), events, status=status)
    )
    await until(lambda: len(events.chunks) >= 1 and len(gated.waiting) == 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(gated.cancelled) == chunk_paths(files)[1:]
    assert [index.closed for index in factory.made] == [True]
    assert len(factory.made[0]) == 0  # its vectors are gone
    assert events.terminal == []
    assert status.state is LoadState.ERROR
    assert status.error_code == "CANCELLED"
    assert observer.outcomes == [Outcome.CANCELLED]


async def test_concurrent_sessions_share_one_manifest_fetch(new_loader: LoaderMaker) -> None:
    gated = GatedStorage(memory_store())
    release = gated.hold(PATH)
    loader = new_loader(gated)
    tasks = [asyncio.create_task(loader.load(LoadRequest(PATH, OWNER), Events())) for _ in range(5)]
    await until(lambda: bool(gated.waiting))
    await asyncio.sleep(0.01)
    release.set()
    handles = await asyncio.gather(*tasks)
    assert gated.gets[PATH] == 1
    assert len({id(handle.index) for handle in handles}) == 1


async def test_failing_progress_callback_does_not_fail_the_load(
    new_loader: LoaderMaker,
) -> None:
    seen: list[ProgressEvent] = []

    def callback(event: ProgressEvent) -> None:
        seen.append(event)
        raise ConnectionResetError("socket gone")

    handle = await new_loader(memory_store()).load(LoadRequest(PATH, OWNER), callback)
    assert handle.vector_count == 12
    assert seen[-1]["event"] == "loading_complete"


async def test_counting_wrapper_sees_every_fetch(new_loader: LoaderMaker) -> None:
    storage = CountingStorage(memory_store())
    await new_loader(storage).load(LoadRequest(PATH, OWNER), Events())
    assert sum(storage.gets.values()) == 4
