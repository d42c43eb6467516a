"""Loads that restore an index persisted by an earlier run instead of fetching its chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from s5vec.cache import CacheKey, IndexCache
from s5vec.cache.persisted import PersistedIndexes
from s5vec.errors import ChunkParseError, DecryptionFailed, MemoryLimitExceeded
from s5vec.formats.paths import chunk_path
from s5vec.index import DatabaseIndex, IndexConfig
from s5vec.loader import LoaderConfig, LoadHandle, LoadRequest, ProgressEvent, VectorLoader
from s5vec.storage.base import Storage
from tests.loader.dbs import (
    KEY,
    OTHER_KEY,
    OWNER,
    chunk_file,
    chunk_paths,
    database,
    db_path,
    manifest_file,
    rows,
    write,
)
from tests.loader.fakes import CountingStorage, Events
from tests.loader.test_load_progress import assert_complete_sequence

PATH = db_path()
COUNTS = (40, 30, 50)


@dataclass
class Run:
    """One run of a host: its own cache, persisted-index catalogue and loader."""

    loader: VectorLoader[CacheKey, DatabaseIndex]
    cache: IndexCache[DatabaseIndex, ProgressEvent]
    persisted: PersistedIndexes
    handles: list[LoadHandle[DatabaseIndex]] = field(default_factory=list)

    async def load(self, key: bytes | None = None) -> tuple[LoadHandle[DatabaseIndex], Events]:
        """Load the test database as a session with ``key`` would."""
        events = Events()
        handle = await self.loader.load(LoadRequest(PATH, OWNER, key), events)
        self.handles.append(handle)
        return handle, events

    async def stop(self) -> None:
        """Shut down as the server does: sessions, loader, pending saves, cache."""
        for handle in self.handles:
            handle.release()
        self.loader.close()
        await self.persisted.close()
        self.cache.clear()


Starter = Callable[..., Run]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Starter]:
    """``start(storage, **LoaderConfig changes)``: a new run over the same data directory."""
    runs: list[Run] = []
    spill = tmp_path / "spill"
    spill.mkdir()
    config = IndexConfig(spill_dir=spill, graph_threshold=10**9)

    def start_run(storage: Storage, **changes: Any) -> Run:
        cache: IndexCache[DatabaseIndex, ProgressEvent] = IndexCache(
            max_entries=10, max_bytes=1 << 30, ttl_s=3600
        )
        persisted = PersistedIndexes.open(
            tmp_path / "indexes", config, max_bytes=1 << 30, scratch_dir=spill, poll_s=0.01
        )
        loader: VectorLoader[CacheKey, DatabaseIndex] = VectorLoader(
            storage,
            cache,
            lambda dims, n: DatabaseIndex(dims, config, expected_vectors=n),
            LoaderConfig(**changes),
            persisted=persisted,
        )
        runs.append(Run(loader, cache, persisted))
        return runs[-1]

    yield start_run
    for run in runs:
        await run.stop()


def chunk_gets(store: CountingStorage) -> int:
    return sum(count for path, count in store.gets.items() if "/chunk-" in path)


def top_ids(handle: LoadHandle[DatabaseIndex], seed: int = 0) -> list[list[str]]:
    """Top-5 ids of a query near each chunk's first row."""
    queries = [rows(n, 8, seed + c)[0].astype(np.float32) for c, n in enumerate(COUNTS)]
    return [[hit.id for hit in handle.index.search(q, 5)] for q in queries]


@pytest.mark.parametrize("key", [None, KEY], ids=["plaintext", "encrypted"])
async def test_a_restart_serves_the_database_without_fetching_a_chunk(
    store: CountingStorage, start: Starter, key: bytes | None
) -> None:
    files = database(COUNTS, key=key)
    await write(store, files)
    first = start(store)
    cold, _ = await first.load(key)
    assert chunk_gets(store) == len(COUNTS)
    await first.persisted.drain()
    expected = top_ids(cold)
    await first.stop()
    for path in chunk_paths(files):
        await store.delete(path)  # a load that needs a chunk now fails

    second = start(store)
    restored, events = await second.load(key)
    assert chunk_gets(store) == len(COUNTS)  # none since the restart
    assert store.gets[PATH] == 2  # the manifest is still fetched and checked
    assert_complete_sequence(events, len(COUNTS), sum(COUNTS))
    assert restored.source == "load"
    assert top_ids(restored) == expected


async def test_a_session_with_another_key_gets_no_vectors(
    store: CountingStorage, start: Starter
) -> None:
    # The manifest is plaintext, so a wrong key only shows when a chunk is opened.
    files = {
        chunk_path(PATH, c): chunk_file(c, rows(n, 8, c), key=KEY) for c, n in enumerate(COUNTS)
    }
    files[PATH] = manifest_file(COUNTS, 8)
    await write(store, files)
    first = start(store)
    await first.load(KEY)
    await first.persisted.drain()
    await first.stop()

    second = start(store)
    with pytest.raises(DecryptionFailed):
        await second.load(OTHER_KEY)
    with pytest.raises(ChunkParseError):  # no key: the encrypted chunks are unreadable
        await second.load(None)
    assert chunk_gets(store) > len(COUNTS)  # both went to storage: no persisted index served
    _, events = await second.load(KEY)
    assert_complete_sequence(events, len(COUNTS), sum(COUNTS))


async def test_a_changed_manifest_is_loaded_from_storage(
    store: CountingStorage, start: Starter
) -> None:
    await write(store, database(COUNTS))
    first = start(store)
    await first.load()
    await first.persisted.drain()
    await first.stop()
    changed = (40, 30, 51)
    await write(store, database(changed, seed=100))  # same path, new manifest and vectors

    second = start(store)
    handle, _ = await second.load()
    assert chunk_gets(store) == 2 * len(COUNTS)
    assert len(handle.index) == sum(changed)
    vector = rows(changed[0], 8, 100)[3].astype(np.float32)
    assert handle.index.search(vector, 1)[0].id == "c0-3"
    assert handle.index.search(vector, 1)[0].score == pytest.approx(1.0, abs=1e-5)


async def test_a_restored_database_without_manifest_dimensions_gets_its_preflight(
    store: CountingStorage, start: Starter
) -> None:
    await write(store, database(COUNTS, manifest_dims=False))
    first = start(store)
    await first.load()
    await first.persisted.drain()
    await first.stop()

    second = start(store, memory_limit_bytes=1000)
    events = Events()
    with pytest.raises(MemoryLimitExceeded):
        await second.loader.load(LoadRequest(PATH, OWNER), events)
    assert chunk_gets(store) == len(COUNTS)
    assert events.terminal[0]["error_code"] == "MEMORY_LIMIT_EXCEEDED"


async def test_a_failing_save_is_logged_and_the_load_still_succeeds(
    store: CountingStorage, start: Starter, tmp_path: Path
) -> None:
    await write(store, database(COUNTS))
    run = start(store)
    (tmp_path / "indexes").rename(tmp_path / "gone")  # saving cannot create its temp file
    handle, events = await run.load()
    await run.persisted.drain()
    assert events.names[-1] == "loading_complete"
    assert len(handle.index) == sum(COUNTS)
    assert not (tmp_path / "indexes").exists()


class FakePersistedIndexes:
    """Records saves; restores whatever index it was given (once)."""

    def __init__(self, restorable: DatabaseIndex | None = None) -> None:
        self.restorable = restorable
        self.restores: list[tuple[CacheKey, bytes | None]] = []
        self.saves: list[tuple[CacheKey, DatabaseIndex, bytes | None]] = []

    async def restore(self, key: CacheKey, session_key: bytes | None) -> DatabaseIndex | None:
        self.restores.append((key, session_key))
        index, self.restorable = self.restorable, None
        return index

    def save_later(self, key: CacheKey, index: DatabaseIndex, session_key: bytes | None) -> None:
        self.saves.append((key, index, session_key))


async def test_only_a_fresh_load_is_handed_over_for_saving(store: CountingStorage) -> None:
    await write(store, database(COUNTS, key=KEY))
    config = IndexConfig(graph_threshold=10**9)

    async def load(fake: FakePersistedIndexes) -> LoadHandle[DatabaseIndex]:
        cache: IndexCache[DatabaseIndex, ProgressEvent] = IndexCache(
            max_entries=10, max_bytes=1 << 30, ttl_s=3600
        )
        loader: VectorLoader[CacheKey, DatabaseIndex] = VectorLoader(
            store,
            cache,
            lambda dims, n: DatabaseIndex(dims, config, expected_vectors=n),
            LoaderConfig(),
            persisted=fake,
        )
        try:
            return await loader.load(LoadRequest(PATH, OWNER, KEY), Events())
        finally:
            loader.close()

    fresh = FakePersistedIndexes()
    handle = await load(fresh)
    assert [(key.manifest_path, sk) for key, sk in fresh.restores] == [(PATH, KEY)]
    assert [(index, sk) for _, index, sk in fresh.saves] == [(handle.index, KEY)]
    assert fresh.saves[0][0] == fresh.restores[0][0]  # restored and saved under one key

    from_disk = FakePersistedIndexes(restorable=handle.index)
    again = await load(from_disk)
    assert again.index is handle.index
    assert from_disk.saves == []  # a restored index is not written back
    assert chunk_gets(store) == len(COUNTS)
    index = handle.index
    handle.release()
    again.release()
    index.close()
