"""Progress sequence, streaming, cache hits and shared loads (SPEC sections 3 and 9)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s5vec.cache import IndexCache
from s5vec.formats.paths import chunk_path
from s5vec.loader import (
    LoaderConfig,
    LoadRequest,
    LoadState,
    LoadStatus,
    ProgressEvent,
    VectorLoader,
)
from s5vec.storage.memory import FakeMemoryStorage
from tests.loader.conftest import LoaderMaker
from tests.loader.dbs import KEY, OTHER_KEY, OWNER, chunk_paths, database, db_path, rows, write
from tests.loader.fakes import (
    AsyncEvents,
    CountingStorage,
    Events,
    GatedStorage,
    IndexFactory,
    RecordingObserver,
    TrackedIndex,
    until,
)

PATH = db_path()


def assert_complete_sequence(events: Events, chunk_count: int, vector_count: int) -> None:
    """manifest_downloaded, one chunk_downloaded per chunk, index_building, loading_complete."""
    assert events.names == (
        ["manifest_downloaded"]
        + ["chunk_downloaded"] * chunk_count
        + ["index_building", "loading_complete"]
    )
    assert sorted(event["chunk_id"] for event in events.chunks) == list(range(chunk_count))
    for done, event in enumerate(events.chunks, start=1):
        percent = 100 * done // chunk_count
        assert event["total"] == chunk_count
        assert event["percent"] == percent
        assert event["message"] == f"Downloading chunks... {percent}% ({done}/{chunk_count})"
    final = events.items[-1]
    assert final["vector_count"] == vector_count
    assert isinstance(final["duration_ms"], int)
    assert final["duration_ms"] >= 0


async def test_load_streams_every_chunk_into_the_index(
    store: CountingStorage, new_loader: LoaderMaker, factory: IndexFactory
) -> None:
    counts = (4, 3, 5, 1, 2, 6, 3)
    files = database(counts, dims=8)
    await write(store, files)
    events, status = Events(), LoadStatus()
    handle = await new_loader(store, max_parallel_chunks=3).load(
        LoadRequest(PATH, OWNER), events, status=status
    )
    assert_complete_sequence(events, len(counts), sum(counts))
    assert handle.vector_count == sum(counts)
    assert handle.source == "load"
    assert status.state is LoadState.LOADED
    assert status.vector_count == sum(counts)
    assert status.load_time_ms == handle.load_time_ms
    [index] = factory.made
    assert handle.index is index
    assert not index.closed
    assert len(index) == sum(counts)
    # Every vector is in, searchable at once, under its own id and metadata.
    for c, n in enumerate(counts):
        for r, vector in enumerate(rows(n, 8, c).astype(np.float32)):
            [hit] = index.search(vector, k=1)
            assert hit.id == f"c{c}-{r}"
            assert hit.metadata == {"chunk": c, "row": r}
            assert hit.score == pytest.approx(1.0, abs=1e-5)
    assert all(store.gets[path] == 1 for path in chunk_paths(files))


async def test_percent_counts_chunks_done_with_an_async_callback(
    store: CountingStorage, new_loader: LoaderMaker
) -> None:
    counts = (1,) * 7
    await write(store, database(counts, dims=4))
    events = AsyncEvents()
    await new_loader(store).load(LoadRequest(PATH, OWNER), events)
    assert_complete_sequence(events, 7, 7)
    assert [event["percent"] for event in events.chunks] == [14, 28, 42, 57, 71, 85, 100]


async def test_json_and_encrypted_databases_load(
    store: CountingStorage, new_loader: LoaderMaker
) -> None:
    await write(store, database((2, 3), dims=5, fmt="json", key=KEY))
    events = Events()
    handle = await new_loader(store).load(LoadRequest(PATH, OWNER, KEY), events)
    assert_complete_sequence(events, 2, 5)
    assert handle.vector_count == 5


async def test_stale_chunk_files_are_ignored(
    store: CountingStorage, new_loader: LoaderMaker
) -> None:
    files = database((4, 3), dims=8)
    files[chunk_path(PATH, 2)] = b"garbage left by an older version"
    files[chunk_path(PATH, 3)] = database((1, 1, 1, 9), dims=8)[chunk_path(PATH, 3)]
    await write(store, files)
    events = Events()
    handle = await new_loader(store).load(LoadRequest(PATH, OWNER), events)
    assert handle.vector_count == 7
    assert_complete_sequence(events, 2, 7)
    assert store.gets[chunk_path(PATH, 2)] == 0
    assert store.gets[chunk_path(PATH, 3)] == 0


@pytest.mark.parametrize("manifest_dims", [True, False])
async def test_empty_database_loads_with_zero_vectors(
    store: CountingStorage, new_loader: LoaderMaker, manifest_dims: bool
) -> None:
    await write(store, database((), dims=8, manifest_dims=manifest_dims))
    events = Events()
    handle = await new_loader(store).load(LoadRequest(PATH, OWNER), events)
    assert handle.vector_count == 0
    assert events.names == ["manifest_downloaded", "index_building", "loading_complete"]
    assert events.items[-1]["vector_count"] == 0


async def test_manifest_without_dimensions_takes_them_from_the_first_chunk(
    store: CountingStorage, new_loader: LoaderMaker, factory: IndexFactory
) -> None:
    counts = (0, 3, 5, 4)
    await write(store, database(counts, dims=6, manifest_dims=False))
    events = Events()
    handle = await new_loader(store).load(LoadRequest(PATH, OWNER), events)
    assert handle.vector_count == 12
    assert_complete_sequence(events, 4, 12)
    assert [index.dimensions for index in factory.made] == [6]


async def test_second_load_is_a_cache_hit(
    store: CountingStorage, new_loader: LoaderMaker, observer: RecordingObserver
) -> None:
    files = database()
    await write(store, files)
    loader = new_loader(store)
    first = await loader.load(LoadRequest(PATH, OWNER), Events())
    events, status = Events(), LoadStatus()
    second = await loader.load(LoadRequest(PATH, OWNER), events, status=status)
    assert second.source == "cache"
    assert second.index is first.index
    assert_complete_sequence(events, len(files) - 1, 12)  # every chunk reported, from the cache
    assert status.state is LoadState.LOADED
    assert (observer.hits, observer.misses) == (1, 1)
    assert all(store.gets[path] == 1 for path in chunk_paths(files))


async def test_changed_manifest_is_a_miss(
    store: CountingStorage, new_loader: LoaderMaker, factory: IndexFactory
) -> None:
    await write(store, database((4, 3)))
    loader = new_loader(store)
    first = await loader.load(LoadRequest(PATH, OWNER), Events())
    await write(store, database((4, 3, 2)))
    second = await loader.load(LoadRequest(PATH, OWNER), Events())
    assert second.source == "load"
    assert (first.vector_count, second.vector_count) == (7, 9)
    assert len(factory.made) == 2


async def test_twenty_concurrent_sessions_share_one_load(
    store: CountingStorage, new_loader: LoaderMaker, factory: IndexFactory
) -> None:
    counts = (4, 3, 5, 2, 6)
    files = database(counts)
    await write(store, files)
    loader = new_loader(store, max_parallel_chunks=2)
    logs = [Events() for _ in range(20)]
    handles = await asyncio.gather(*(loader.load(LoadRequest(PATH, OWNER), log) for log in logs))
    assert all(store.gets[path] == 1 for path in chunk_paths(files))
    assert store.gets[PATH] == 1
    assert len(factory.made) == 1
    assert {id(handle.index) for handle in handles} == {id(factory.made[0])}
    for log in logs:
        assert_complete_sequence(log, len(counts), sum(counts))
    for handle in handles:
        handle.release()
    assert not factory.made[0].closed  # still cached for the next session


async def test_session_joining_mid_load_gets_the_full_progress(
    store: CountingStorage, new_loader: LoaderMaker, factory: IndexFactory
) -> None:
    gated = GatedStorage(store)
    files = database((4, 3, 5))
    await write(gated, files)
    release = gated.hold(chunk_path(PATH, 2))
    loader = new_loader(gated)
    first_events, second_events = Events(), Events()
    first = asyncio.create_task(loader.load(LoadRequest(PATH, OWNER), first_events))
    await until(lambda: len(first_events.chunks) >= 2)
    second = asyncio.create_task(loader.load(LoadRequest(PATH, OWNER), second_events))
    await until(lambda: len(second_events.chunks) >= 2)
    release.set()
    handles = await asyncio.gather(first, second)
    assert [handle.source for handle in handles] == ["load", "shared"]
    assert_complete_sequence(first_events, 3, 12)
    assert_complete_sequence(second_events, 3, 12)
    assert len(factory.made) == 1
    assert gated.gets[chunk_path(PATH, 2)] == 1
    assert gated.gets[PATH] == 1  # the newcomer reused the manifest of the load in flight


async def test_a_session_leaving_does_not_stop_the_shared_load(
    store: CountingStorage, new_loader: LoaderMaker, factory: IndexFactory
) -> None:
    gated = GatedStorage(store)
    await write(gated, database((4, 3, 5)))
    release = gated.hold(chunk_path(PATH, 1))
    loader = new_loader(gated)
    leaving = asyncio.create_task(loader.load(LoadRequest(PATH, OWNER), Events()))
    staying_events = Events()
    staying = asyncio.create_task(loader.load(LoadRequest(PATH, OWNER), staying_events))
    await until(lambda: chunk_path(PATH, 1) in gated.waiting and bool(staying_events.items))
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    release.set()
    handle = await staying
    assert handle.vector_count == 12
    assert_complete_sequence(staying_events, 3, 12)
    assert not factory.made[0].closed


async def test_different_keys_do_not_share(
    store: CountingStorage, new_loader: LoaderMaker, factory: IndexFactory
) -> None:
    await write(store, database())
    loader = new_loader(store)
    first = await loader.load(LoadRequest(PATH, OWNER, KEY), Events())
    second = await loader.load(LoadRequest(PATH, OWNER, OTHER_KEY), Events())
    assert (first.source, second.source) == ("load", "load")
    assert first.index is not second.index
    assert len(factory.made) == 2


async def test_keyed_session_reuses_an_index_built_without_a_key(
    store: CountingStorage, new_loader: LoaderMaker, factory: IndexFactory
) -> None:
    await write(store, database())
    loader = new_loader(store)
    plain = await loader.load(LoadRequest(PATH, OWNER), Events())
    events = Events()
    keyed = await loader.load(LoadRequest(PATH, OWNER, KEY), events)
    assert keyed.source == "cache"
    assert keyed.index is plain.index
    assert_complete_sequence(events, 3, 12)


async def test_plain_session_does_not_reuse_a_keyed_load(
    store: CountingStorage, new_loader: LoaderMaker, factory: IndexFactory
) -> None:
    await write(store, database())
    loader = new_loader(store)
    keyed = await loader.load(LoadRequest(PATH, OWNER, KEY), Events())
    plain = await loader.load(LoadRequest(PATH, OWNER), Events())
    assert plain.source == "load"
    assert plain.index is not keyed.index


async def test_released_lease_closes_the_index_once_evicted(
    store: CountingStorage,
    new_loader: LoaderMaker,
    factory: IndexFactory,
    cache: IndexCache[object, ProgressEvent],  # type: ignore[type-var]
) -> None:
    await write(store, database())
    handle = await new_loader(store).load(LoadRequest(PATH, OWNER), Events())
    cache.clear()
    assert not factory.made[0].closed  # the session still holds it
    handle.release()
    handle.release()
    assert factory.made[0].closed


async def test_durations_count_from_the_acknowledgement(
    store: CountingStorage,
    cache: IndexCache[object, ProgressEvent],
    factory: IndexFactory,  # type: ignore[type-var]
) -> None:
    await write(store, database())
    loader = VectorLoader(store, cache, factory, LoaderConfig(), clock=lambda: 102.5)
    events, status = Events(), LoadStatus()
    try:
        handle = await loader.load(
            LoadRequest(PATH, OWNER), events, status=status, started_at=100.0
        )
    finally:
        loader.close()
    assert handle.load_time_ms == 2500
    assert status.load_time_ms == 2500
    assert events.items[-1]["duration_ms"] == 2500


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    counts=st.lists(st.integers(0, 4), min_size=0, max_size=12),
    parallel=st.integers(1, 5),
    manifest_dims=st.booleans(),
)
def test_any_database_shape_loads_with_complete_progress(
    counts: list[int], parallel: int, manifest_dims: bool
) -> None:
    files = database(tuple(counts), dims=3, manifest_dims=manifest_dims)

    async def run() -> tuple[int, Events]:
        cache: IndexCache[TrackedIndex, ProgressEvent] = IndexCache(
            max_entries=1, max_bytes=1 << 20, ttl_s=60
        )
        loader = VectorLoader(
            FakeMemoryStorage(files),
            cache,
            IndexFactory(),
            LoaderConfig(max_parallel_chunks=parallel),
        )
        events = Events()
        try:
            handle = await loader.load(LoadRequest(PATH, OWNER), events)
        finally:
            loader.close()
        handle.release()
        cache.clear()
        return handle.vector_count, events

    vector_count, events = asyncio.run(run())
    assert vector_count == sum(counts)
    if counts:
        assert_complete_sequence(events, len(counts), sum(counts))
    else:
        assert events.names == ["manifest_downloaded", "index_building", "loading_complete"]


async def test_session_after_the_load_fetches_the_manifest_afresh(
    store: CountingStorage, new_loader: LoaderMaker
) -> None:
    await write(store, database())
    loader = new_loader(store)
    await loader.load(LoadRequest(PATH, OWNER), Events())
    await loader.load(LoadRequest(PATH, OWNER), Events())
    assert store.gets[PATH] == 2
