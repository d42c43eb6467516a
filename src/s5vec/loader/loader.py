"""One session's load: manifest to a leased, searchable index, with progress (SPEC section 3).

``VectorLoader.load`` is what a session runs in its background task. Per session it fetches
and decodes the manifest (concurrent sessions share the GET), checks owner and ``deleted``,
runs the memory pre-flight, then takes the index from the cache: a hit, a load already in
flight for the same database (joined, with its progress replayed), or a new shared load
(``pipeline.IndexBuilder``). Every call ends with exactly one ``loading_complete`` or
``loading_error`` event, except on cancellation: the caller cancelled the task and reports
``CANCELLED`` itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, Literal

from aiolimiter import AsyncLimiter

from s5vec.errors import (
    Cancelled,
    DatabaseDeleted,
    InternalError,
    LoadTimeout,
    OwnerMismatch,
    S5VecError,
)
from s5vec.formats import decode_manifest
from s5vec.formats.paths import validate_manifest_path
from s5vec.loader.config import LoaderConfig
from s5vec.loader.events import (
    ProgressCallback,
    ProgressEvent,
    chunk_downloaded,
    deliver,
    index_building,
    loading_complete,
    loading_error,
    manifest_downloaded,
)
from s5vec.loader.fetch import BlobReader, FileFetcher
from s5vec.loader.observer import LoadObserver, NullObserver, Outcome
from s5vec.loader.pipeline import BuildJob, IndexBuilder
from s5vec.loader.ports import (
    IndexLease,
    IndexT,
    KeyT,
    PersistedIndexes,
    Publish,
    SharedIndexCache,
)
from s5vec.loader.preflight import check_memory
from s5vec.loader.ratelimit import RateGate
from s5vec.loader.status import LoadStatus
from s5vec.storage.base import Storage

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoadRequest:
    """What a session asks to load; ``session_key`` None means a plain (keyless) init."""

    manifest_path: str
    user_address: str
    session_key: bytes | None = field(default=None, repr=False)


@dataclass(slots=True)
class LoadHandle(Generic[IndexT]):
    """A loaded database: the session's lease on the shared index, released on disconnect."""

    lease: IndexLease[IndexT]
    vector_count: int
    load_time_ms: int
    source: Literal["cache", "load", "shared"]
    """A cache hit, this session's own load, or a load another session started."""

    @property
    def index(self) -> IndexT:
        """The searchable index (an error after ``release``)."""
        return self.lease.value

    def release(self) -> None:
        """Give the index back to the cache; idempotent."""
        self.lease.release()


class _Pump:
    """Delivers one session's events to its callback in order, off the publisher's stack.

    The shared load publishes synchronously to every session following it; each session's
    (possibly async, possibly slow) callback runs in this session's own task instead.
    """

    def __init__(self, callback: ProgressCallback) -> None:
        self._callback = callback
        self._queue: asyncio.Queue[ProgressEvent | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="s5vec-load-progress")

    def put(self, event: ProgressEvent) -> None:
        """Queue ``event`` for delivery."""
        self._queue.put_nowait(event)

    async def drain(self) -> None:
        """Deliver everything queued, then stop."""
        self._queue.put_nowait(None)
        await self._task

    def cancel(self) -> None:
        """Stop at once, dropping what is still queued."""
        self._task.cancel()

    async def _run(self) -> None:
        while (event := await self._queue.get()) is not None:
            await deliver(self._callback, event)


class VectorLoader(Generic[KeyT, IndexT]):
    """Loads databases for every session of the process; create one and share it.

    Injected: the storage backend; the index cache (``cache.IndexCache``) and the index
    factory (``lambda dims, n: DatabaseIndex(dims, config, expected_vectors=n)``), both
    above the loader's layer; the shared per-backend rate limiters (ignored for a
    non-remote storage); an optional portal reader for chunks whose ``cid`` is a blob CID;
    an observer for metrics; the executor for decoding (default: a pool of its own, one
    thread per core, stopped by ``close``); the clock for durations; optionally the indexes
    persisted by an earlier run (``cache.PersistedIndexes``): a shared load first tries to
    restore one (after the manifest was fetched and accepted, before any chunk), and a fresh
    load is handed to it to be saved in the background.
    """

    def __init__(
        self,
        storage: Storage,
        cache: SharedIndexCache[KeyT, IndexT],
        make_index: Callable[[int | None, int], IndexT],
        config: LoaderConfig,
        *,
        storage_limiter: AsyncLimiter | None = None,
        portal: BlobReader | None = None,
        portal_limiter: AsyncLimiter | None = None,
        observer: LoadObserver | None = None,
        executor: Executor | None = None,
        clock: Callable[[], float] = time.monotonic,
        persisted: PersistedIndexes[KeyT, IndexT] | None = None,
    ) -> None:
        self._cache = cache
        self._persisted = persisted
        self._config = config
        self._observer: LoadObserver = observer or NullObserver()
        self._clock = clock
        self._fetcher = FileFetcher(
            storage,
            self._observer,
            storage_gate=RateGate(storage_limiter) if storage_limiter is not None else None,
            portal=portal,
            portal_gate=RateGate(portal_limiter) if portal_limiter is not None else None,
            local_timeout_s=config.download_timeout_s,
        )
        # Decoding gets a pool of its own, one thread per core by default: the loop's default
        # executor (cores + 4 threads, shared with file reads) runs more decodes at once than
        # there are cores, which measured ~30% slower at 100K vectors on 2 cores.
        self._own_pool = (
            ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="s5vec-decode")
            if executor is None
            else None
        )
        # A local store reads a chunk in milliseconds, far faster than it decodes: fetching
        # ten ahead only holds ten raw files in memory (~350 MB at 100K x 384 CBOR) for no
        # gain. Remote reads wait on the network, so they keep every parallel fetch.
        ahead = None if storage.remote or portal is not None else (os.cpu_count() or 1) + 2
        self._builder: IndexBuilder[IndexT] = IndexBuilder(
            self._fetcher, make_index, config, self._observer, executor or self._own_pool, ahead
        )
        self._building: dict[KeyT, asyncio.Task[Any]] = {}

    def close(self) -> None:
        """Stop the loader's own decoding threads (none when an executor was injected)."""
        if self._own_pool is not None:
            self._own_pool.shutdown(wait=False, cancel_futures=True)

    async def load(
        self,
        request: LoadRequest,
        on_progress: ProgressCallback,
        *,
        status: LoadStatus | None = None,
        started_at: float | None = None,
    ) -> LoadHandle[IndexT]:
        """Load ``request``'s database and return a lease on its index.

        Progress payloads go to ``on_progress`` in order, ending with exactly one
        ``loading_complete`` or ``loading_error``; ``status`` (if given, ``not_started``)
        follows along. ``started_at`` (on the injected clock, default now) is when the
        session was acknowledged: ``duration_ms`` and ``load_time_ms`` count from it.
        Raises the load's ``S5VecError`` after reporting it; on cancellation reports nothing,
        frees whatever this session held and re-raises ``CancelledError``.
        """
        started = self._clock() if started_at is None else started_at
        status = status if status is not None else LoadStatus()
        status.mark_loading()
        pump = _Pump(on_progress)
        try:
            handle = await self._load_in_time(request, pump.put, started)
        except asyncio.CancelledError:
            pump.cancel()
            status.mark_error(Cancelled.code, Cancelled.default_message)
            self._observer.on_load_finished(Outcome.CANCELLED, self._clock() - started)
            raise
        except S5VecError as error:
            await self._fail(error, pump, status, started)
            raise
        except Exception as exc:
            internal = InternalError("Loading failed unexpectedly")
            logger.exception("load failed unexpectedly (trace id %s)", internal.trace_id)
            await self._fail(internal, pump, status, started)
            raise internal from exc
        try:
            status.mark_loaded(handle.vector_count, handle.load_time_ms)
            pump.put(loading_complete(handle.vector_count, handle.load_time_ms))
            self._observer.on_load_finished(Outcome.SUCCESS, self._clock() - started)
            await pump.drain()
        except BaseException:
            pump.cancel()
            handle.release()
            raise
        return handle

    async def _fail(
        self, error: S5VecError, pump: _Pump, status: LoadStatus, started: float
    ) -> None:
        status.mark_error(error.code, error.message)
        outcome = Outcome.TIMEOUT if isinstance(error, LoadTimeout) else Outcome.FAILURE
        self._observer.on_load_finished(outcome, self._clock() - started)
        logger.info("load failed: %s", error.code)
        pump.put(loading_error(error))
        try:
            await pump.drain()
        except BaseException:
            pump.cancel()
            raise

    async def _load_in_time(
        self, request: LoadRequest, emit: Publish, started: float
    ) -> LoadHandle[IndexT]:
        deadline = asyncio.get_running_loop().time() + self._config.loading_timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                return await self._load(request, emit, started, deadline)
        except TimeoutError:
            raise LoadTimeout() from None

    async def _load(
        self, request: LoadRequest, emit: Publish, started: float, deadline: float
    ) -> LoadHandle[IndexT]:
        validate_manifest_path(request.manifest_path)
        async with self._fetcher.manifest(request.manifest_path, deadline) as raw:
            return await self._load_manifest(request, raw, emit, started, deadline)

    async def _load_manifest(
        self, request: LoadRequest, raw: bytes, emit: Publish, started: float, deadline: float
    ) -> LoadHandle[IndexT]:
        path = request.manifest_path
        decoded = decode_manifest(raw, request.session_key)
        manifest = decoded.manifest
        if manifest.owner.lower() != request.user_address.lower():
            raise OwnerMismatch("The manifest's owner is not the requesting user")
        if manifest.deleted:
            raise DatabaseDeleted()
        emit(manifest_downloaded(manifest.vector_count, len(manifest.chunks)))
        if manifest.dimensions is not None:
            check_memory(
                manifest.vector_count, manifest.dimensions, self._config.memory_limit_bytes
            )
        lease = self._plaintext_hit(request, decoded.encrypted, raw)
        if lease is None:
            key = self._cache.key_for(path, request.session_key, raw)
            job = BuildJob(path, manifest, request.session_key, deadline)
            try:
                lease = await self._cache.get_or_load(
                    key, lambda publish: self._build(key, job, publish), emit
                )
            except asyncio.CancelledError:
                await self._unwound(key)
                raise
        if lease.source == "cache":
            self._observer.on_cache_hit()
            # A hit still reports one chunk_downloaded per manifest chunk (SPEC section 3):
            # clients' progress bars count on them.
            entries = sorted(manifest.chunks, key=lambda entry: entry.chunk_id)
            for done, entry in enumerate(entries, start=1):
                emit(chunk_downloaded(entry.chunk_id, done, len(entries)))
            emit(index_building(manifest.vector_count))
        else:
            self._observer.on_cache_miss()
        elapsed_ms = int((self._clock() - started) * 1000)
        return LoadHandle(lease, manifest.vector_count, elapsed_ms, lease.source)

    async def _build(self, key: KeyT, job: BuildJob, publish: Publish) -> IndexT:
        """The shared load, run in the cache's task; remembered so leavers can await it."""
        task = asyncio.current_task()
        assert task is not None
        self._building[key] = task
        try:
            if self._persisted is not None:
                restored = await self._persisted.restore(key, job.session_key)
                if restored is not None:
                    return self._builder.adopt(job, restored, publish)
            index = await self._builder.build(job, publish)
            if self._persisted is not None:
                self._persisted.save_later(key, index, job.session_key)
            return index
        finally:
            if self._building.get(key) is task:
                del self._building[key]

    async def _unwound(self, key: KeyT) -> None:
        """After leaving a load (cancelled, timed out): if the cache cancelled the shared load
        because this session was its last follower, wait until it has freed its partial index,
        so the memory is back before the session reports the load's end."""
        task = self._building.get(key)
        if task is not None and task.cancelling():
            await asyncio.wait({task})

    def _plaintext_hit(
        self, request: LoadRequest, manifest_encrypted: bool, raw: bytes
    ) -> IndexLease[IndexT] | None:
        """A keyed session may reuse an index built by a keyless one.

        An index cached under "plaintext" was built by a session without a key, so every
        file decoded as plaintext, which a keyed session accepts too. The reverse never
        holds: an index built with a key is never offered to a session without it, even
        when the manifest itself is plaintext (its chunks may not be).
        """
        if request.session_key is None or manifest_encrypted:
            return None
        return self._cache.acquire(self._cache.key_for(request.manifest_path, None, raw))
