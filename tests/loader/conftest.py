"""Loader test fixtures: stores (local dir, dev store over HTTP, in-memory fake) and a loader."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from s5vec.cache import CacheKey, IndexCache
from s5vec.loader import LoaderConfig, ProgressEvent, VectorLoader
from s5vec.storage.base import Storage
from s5vec.storage.bridge import BridgeStorage
from s5vec.storage.local import LocalStorage
from tests.loader.fakes import CountingStorage, IndexFactory, RecordingObserver


@pytest.fixture(params=["local", "devstore"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """None for the local directory backend, else the URL of a real dev store."""
    if request.param == "local":
        return None
    url: str = request.getfixturevalue("dev_store")
    return url


@pytest.fixture
async def store(store_url: str | None, tmp_path: Path) -> AsyncIterator[CountingStorage]:
    """A real backend wrapped to count GETs: a local directory, or the dev store over HTTP."""
    if store_url is None:
        storage = CountingStorage(LocalStorage(tmp_path / "s5"))
    else:
        storage = CountingStorage(BridgeStorage(store_url, timeout_s=5.0, retries=0))
    try:
        yield storage
    finally:
        await storage.close()


LoaderMaker = Callable[..., VectorLoader[CacheKey, Any]]


@pytest.fixture
def factory() -> IndexFactory:
    """Index factory (records every index it made)."""
    return IndexFactory()


@pytest.fixture
def cache() -> IndexCache[Any, ProgressEvent]:
    """A real index cache, large enough for every test database."""
    return IndexCache(max_entries=10, max_bytes=1 << 30, ttl_s=3600)


@pytest.fixture
def observer() -> RecordingObserver:
    """Records the loader's observer calls."""
    return RecordingObserver()


@pytest.fixture
def new_loader(
    cache: IndexCache[Any, ProgressEvent], factory: IndexFactory, observer: RecordingObserver
) -> Iterator[LoaderMaker]:
    """``new_loader(storage, **LoaderConfig changes or VectorLoader keywords)``."""
    config_fields = set(LoaderConfig.__dataclass_fields__)
    made: list[VectorLoader[CacheKey, Any]] = []

    def make(storage: Storage, **changes: Any) -> VectorLoader[CacheKey, Any]:
        config = LoaderConfig(**{k: v for k, v in changes.items() if k in config_fields})
        options = {k: v for k, v in changes.items() if k not in config_fields}
        options.setdefault("observer", observer)
        made.append(VectorLoader(storage, cache, factory, config, **options))
        return made[-1]

    yield make
    for loader in made:
        loader.close()
