"""Session test fixtures: real storage, cache, index, loader and host key behind a hub."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from s5vec.cache import IndexCache
from s5vec.crypto.secp256k1 import HostKey
from s5vec.index import DatabaseIndex, IndexConfig
from s5vec.loader import LoaderConfig, ProgressEvent, VectorLoader
from s5vec.sessions import SessionConfig, SessionHub, SessionObserver
from s5vec.storage.base import Storage
from s5vec.storage.local import LocalStorage
from tests.sessions.dbs import User
from tests.sessions.fakes import RecordingObserver

HubMaker = Callable[..., SessionHub]


class IndexFactory:
    """Makes real exact (f32) database indexes and remembers them."""

    def __init__(self) -> None:
        self.made: list[DatabaseIndex] = []

    def __call__(self, dims: int | None, expected_vectors: int) -> DatabaseIndex:
        index = DatabaseIndex(
            dims, IndexConfig(quantization="f32"), expected_vectors=expected_vectors
        )
        self.made.append(index)
        return index


@pytest.fixture
def user() -> User:
    """The database owner and signer of encrypted inits."""
    return User.new()


@pytest.fixture
def host_key() -> HostKey:
    """The host's secp256k1 key."""
    return HostKey.generate()


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[LocalStorage]:
    """The real local directory backend in a tmp dir."""
    store = LocalStorage(tmp_path / "s5")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def cache() -> IndexCache[Any, ProgressEvent]:
    """A real index cache."""
    return IndexCache(max_entries=10, max_bytes=1 << 30, ttl_s=3600)


@pytest.fixture
def indexes() -> IndexFactory:
    """The index factory given to the loader (records every index it made)."""
    return IndexFactory()


@pytest.fixture
def observer() -> RecordingObserver:
    """Records session metrics."""
    return RecordingObserver()


@pytest.fixture
async def make_hub(
    storage: LocalStorage,
    cache: IndexCache[Any, ProgressEvent],
    indexes: IndexFactory,
    host_key: HostKey,
    observer: RecordingObserver,
) -> AsyncIterator[HubMaker]:
    """``make_hub(storage=..., host_key=..., observer=..., logger=..., **SessionConfig)``."""
    hubs: list[SessionHub] = []

    def make(
        *,
        storage: Storage = storage,
        host_key: HostKey | None = host_key,
        observer: SessionObserver = observer,
        logger: Any = None,
        **config: Any,
    ) -> SessionHub:
        loader = VectorLoader(storage, cache, indexes, LoaderConfig())
        hub = SessionHub(loader, host_key, SessionConfig(**config), observer, logger)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        await hub.close()


@pytest.fixture
def hub(make_hub: HubMaker) -> SessionHub:
    """A hub over the local storage with default settings."""
    return make_hub()
