"""What one app runs on, built from ``Settings`` at start-up and closed at shutdown.

``open_services`` wires the layers together: one pooled aiohttp ``ClientSession`` shared by
the remote backends, one ``AsyncLimiter`` per remote backend, the index cache, the loader,
the persisted indexes (``S5VEC_PERSIST_INDEXES``: saved under ``S5VEC_DATA_DIR/indexes``,
restored by the loader after a restart), the host key (optional: without one, encrypted
inits get ``ENCRYPTION_NOT_SUPPORTED``) and the session hub. Closing reverses it: sessions
(and their loads) first, then pending index saves, the cache, the backends and the HTTP pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from aiolimiter import AsyncLimiter

from s5vec.cache import IndexCache
from s5vec.cache.persisted import PersistedIndexes
from s5vec.config import Settings, mask_url
from s5vec.crypto.host_key import load_or_create_host_key
from s5vec.crypto.secp256k1 import HostKey
from s5vec.errors import EncryptionNotSupported
from s5vec.index import DatabaseIndex, IndexConfig
from s5vec.loader import LoaderConfig, ProgressEvent, VectorLoader
from s5vec.metrics import Metrics
from s5vec.sessions import SessionConfig, SessionHub
from s5vec.storage.base import Storage
from s5vec.storage.bridge import BridgeStorage
from s5vec.storage.local import LocalStorage
from s5vec.storage.portal import PortalBlobReader

log = structlog.get_logger(__name__)

SPILL_DIR_NAME = "index-spill"
PERSIST_DIR_NAME = "indexes"
CACHE_SWEEP_INTERVAL_S = 60.0


@dataclass(slots=True)
class Services:
    """The running parts of one app; ``sockets`` are the open WebSockets."""

    settings: Settings
    metrics: Metrics
    storage: Storage
    cache: IndexCache[DatabaseIndex, ProgressEvent]
    hub: SessionHub
    host_key: HostKey | None
    host_key_problem: str | None
    persisted: PersistedIndexes | None = None
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    draining: bool = False

    def storage_description(self) -> dict[str, Any]:
        """The backend and where it points, credentials masked (for the start-up log)."""
        if isinstance(self.storage, BridgeStorage):
            return {"backend": self.storage.name, "url": mask_url(self.settings.enhanced_s5_url)}
        if isinstance(self.storage, LocalStorage):
            return {"backend": self.storage.name, "root": str(self.storage.root)}
        return {"backend": self.storage.name}


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings, metrics: Metrics, storage: Storage | None = None
) -> AsyncIterator[Services]:
    """Build every service from ``settings``; a ``storage`` passed in is used and left open."""
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession())
        # One limiter per remote backend: the loader takes a token before each fetch, the
        # backend before each retry of it.
        storage_limiter, portal_limiter = _limiter(settings), _limiter(settings)
        if storage is None:
            storage = _build_storage(settings, http, storage_limiter)
            stack.push_async_callback(storage.close)
        portal = _build_portal(settings, http, portal_limiter)
        if portal is not None:
            stack.push_async_callback(portal.close)
        cache: IndexCache[DatabaseIndex, ProgressEvent] = IndexCache(
            max_entries=settings.vector_index_cache_size,
            max_bytes=settings.cache_max_bytes,
            ttl_s=settings.cache_ttl_s,
        )
        stack.callback(cache.clear)
        index_config = await asyncio.to_thread(_index_config, settings)

        def make_index(dimensions: int | None, expected_vectors: int) -> DatabaseIndex:
            return DatabaseIndex(
                dimensions,
                index_config,
                expected_vectors=expected_vectors,
                on_graph_built=metrics.on_graph_built,
            )

        persisted = await asyncio.to_thread(_persisted_indexes, settings, index_config, metrics)
        if persisted is not None:
            stack.push_async_callback(persisted.close)
        loader: VectorLoader[Any, DatabaseIndex] = VectorLoader(
            storage,
            cache,
            make_index,
            _loader_config(settings),
            storage_limiter=storage_limiter if storage.remote else None,
            portal=portal,
            portal_limiter=portal_limiter if portal is not None else None,
            observer=metrics,
            persisted=persisted,
        )
        stack.callback(loader.close)
        host_key, problem = await asyncio.to_thread(_host_key, settings)
        hub = SessionHub(
            loader,
            host_key,
            _session_config(settings),
            observer=metrics,
            logger=structlog.get_logger("s5vec.sessions"),
        )
        stack.push_async_callback(hub.close)
        sweeper = asyncio.create_task(_sweep(cache), name="s5vec-cache-sweep")
        stack.push_async_callback(_cancel, sweeper)
        yield Services(settings, metrics, storage, cache, hub, host_key, problem, persisted)


def _build_storage(
    settings: Settings, http: aiohttp.ClientSession, limiter: AsyncLimiter
) -> Storage:
    if settings.s5_storage == "bridge":
        return BridgeStorage(
            settings.enhanced_s5_url,
            timeout_s=settings.download_timeout_s,
            retries=settings.s5_download_retries,
            session=http,
            before_retry=limiter.acquire,
        )
    return LocalStorage(settings.s5_local_dir)


def _build_portal(
    settings: Settings, http: aiohttp.ClientSession, limiter: AsyncLimiter
) -> PortalBlobReader | None:
    if not settings.s5_portal_urls:
        return None
    return PortalBlobReader(
        settings.s5_portal_urls,
        timeout_s=settings.download_timeout_s,
        retries=settings.s5_download_retries,
        session=http,
        before_retry=limiter.acquire,
    )


def _limiter(settings: Settings) -> AsyncLimiter:
    """One limiter per remote backend, shared by every session of the process."""
    return AsyncLimiter(settings.s5_rate_limit_requests, settings.s5_rate_limit_window_seconds)


def _loader_config(settings: Settings) -> LoaderConfig:
    return LoaderConfig(
        max_parallel_chunks=settings.s5_max_parallel_chunks,
        download_timeout_s=settings.download_timeout_s,
        loading_timeout_s=settings.loading_timeout_s,
        memory_limit_bytes=settings.memory_limit_bytes,
    )


def _index_config(settings: Settings) -> IndexConfig:
    """The index tuning; full-precision vectors spill under the data directory when possible."""
    spill_dir: Path | None = settings.s5vec_data_dir / SPILL_DIR_NAME
    try:
        Path(settings.s5vec_data_dir / SPILL_DIR_NAME).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("no_spill_directory", error=exc.strerror, effect="re-scoring from RAM")
        spill_dir = None
    return IndexConfig(
        quantization=settings.s5vec_index_quantization,
        spill_dir=spill_dir,
        graph_threshold=settings.s5vec_ann_threshold,
        connectivity=settings.s5vec_hnsw_connectivity,
        expansion_add=settings.s5vec_hnsw_expansion_add,
        expansion_search=settings.s5vec_hnsw_expansion_search,
        # Leave a core for searches while a graph builds (SPEC section 10).
        build_threads=max(1, (os.cpu_count() or 1) - 1),
    )


def _persisted_indexes(
    settings: Settings, config: IndexConfig, metrics: Metrics
) -> PersistedIndexes | None:
    """The persisted indexes, or None when disabled or the directory is unusable."""
    if not settings.s5vec_persist_indexes:
        return None
    try:
        return PersistedIndexes.open(
            settings.s5vec_data_dir / PERSIST_DIR_NAME,
            config,
            max_bytes=settings.persist_max_bytes,
            scratch_dir=config.spill_dir,
            on_graph_built=metrics.on_graph_built,
        )
    except OSError as exc:
        log.warning("no_persisted_indexes", error=exc.strerror, effect="indexes are not saved")
        return None


def _session_config(settings: Settings) -> SessionConfig:
    return SessionConfig(
        require_signer_match=settings.s5vec_require_signer_match,
        max_uploaded_vectors=settings.s5vec_max_uploaded_vectors,
    )


def _host_key(settings: Settings) -> tuple[HostKey | None, str | None]:
    """The host key, or None and why (encrypted inits then get ENCRYPTION_NOT_SUPPORTED)."""
    secret = settings.host_private_key
    try:
        key = load_or_create_host_key(
            secret.get_secret_value() if secret is not None else None, settings.s5vec_data_dir
        )
    except EncryptionNotSupported as exc:
        return None, exc.message
    return key, None


async def _sweep(cache: IndexCache[DatabaseIndex, ProgressEvent]) -> None:
    """Free expired cache entries on an idle host too (the cache expires lazily otherwise),
    and count the graphs built since in the cache's byte bound."""
    while True:
        await asyncio.sleep(CACHE_SWEEP_INTERVAL_S)
        cache.sweep()
        cache.remeasure_changed()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
