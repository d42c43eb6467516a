"""The shared part of a load: a database's chunks streamed from storage into one new index.

One ``IndexBuilder.build`` runs per cache miss, in the cache's own task, and every session
naming the same database follows its progress. Chunks are fetched at most
``max_parallel_chunks`` at a time (fewer when the loader says a read-ahead suffices); each one
is decrypted, decoded, validated and added to the index in a worker thread as soon as it
arrives, several at once (AES-GCM and numpy release the GIL for the heavy parts), so the
index fills while later chunks are still downloading.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from s5vec.errors import IndexBuildFailed, LoadTimeout, S5VecError
from s5vec.formats import ChunkEntry, DecodedChunk, Manifest, decode_chunk
from s5vec.loader.config import LoaderConfig
from s5vec.loader.events import chunk_downloaded, index_building
from s5vec.loader.fetch import FileFetcher
from s5vec.loader.observer import LoadObserver
from s5vec.loader.ports import IndexT, Publish
from s5vec.loader.preflight import check_memory

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BuildJob:
    """What one shared load reads: the manifest (already accepted), the key, the deadline."""

    manifest_path: str
    manifest: Manifest
    session_key: bytes | None = field(repr=False)
    deadline: float
    """Loop time (``loop.time()``) by which the index must be searchable."""


def _index_call(operation: str, call: Callable[[], T]) -> T:
    """Run an index operation; a failure of the index library is ``INDEX_BUILD_FAILED``."""
    try:
        return call()
    except S5VecError:
        raise
    except Exception:
        logger.exception("index %s failed", operation)
        raise IndexBuildFailed() from None


class _Feeder(Generic[IndexT]):
    """Adds decoded chunks to the index from worker threads, several at once.

    The index validates, normalises and encodes a chunk before taking its own lock, so
    concurrent adds overlap there. ``discard`` may come from the event loop at any moment
    (cancellation, another chunk's error) while workers are mid-``add``: it waits for those
    adds to end, and later adds find the feeder closed and drop their chunk.
    """

    def __init__(self, index: IndexT) -> None:
        self.index = index
        self.vector_count = 0
        self._state = threading.Condition()
        self._adding = 0
        self._closed = False

    def add(self, chunk: DecodedChunk) -> int:
        """Add one chunk (worker thread); return how many vectors went in."""
        with self._state:
            if self._closed:
                return 0
            self._adding += 1
        try:
            _index_call(
                "add", lambda: self.index.add_chunk(chunk.ids, chunk.vectors, chunk.metadata)
            )
        finally:
            with self._state:
                self._adding -= 1
                self._state.notify_all()
        with self._state:
            self.vector_count += len(chunk.ids)
        return len(chunk.ids)

    def finish(self) -> None:
        """Make the index searchable (worker thread, after every add has returned)."""
        with self._state:
            if not self._closed:
                _index_call("finish", self.index.finish)

    def discard(self) -> None:
        """Close the partial index and free its memory; later adds are dropped."""
        with self._state:
            if self._closed:
                return
            self._closed = True
            self._state.wait_for(lambda: self._adding == 0)
        try:
            self.index.close()
        except Exception:
            # The load is failing already; its own error is the one to report.
            logger.exception("closing a partial index failed")


class _Progress:
    """Counts chunks done and publishes one ``chunk_downloaded`` per chunk, in order."""

    def __init__(self, total: int, publish: Publish) -> None:
        self.total = total
        self.done = 0
        self._publish = publish

    def chunk_done(self, chunk_id: int) -> None:
        """Publish that chunk ``chunk_id`` is in the index."""
        self.done += 1
        self._publish(chunk_downloaded(chunk_id, self.done, self.total))


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that failed a task group first (the others are its consequences)."""
    first = group.exceptions[0]
    return _first_error(first) if isinstance(first, BaseExceptionGroup) else first


class IndexBuilder(Generic[IndexT]):
    """Builds indexes from accepted manifests; one per process, shared by every load."""

    def __init__(
        self,
        fetcher: FileFetcher,
        make_index: Callable[[int | None, int], IndexT],
        config: LoaderConfig,
        observer: LoadObserver,
        executor: Executor | None,
        read_ahead: int | None = None,
    ) -> None:
        """``read_ahead``: at most this many chunks of one load fetched or decoding at once,
        if fewer than ``max_parallel_chunks`` (None: ``max_parallel_chunks``)."""
        self._fetcher = fetcher
        self._make_index = make_index
        self._config = config
        self._observer = observer
        self._executor = executor
        parallel = config.max_parallel_chunks
        self._parallel = parallel if read_ahead is None else max(1, min(parallel, read_ahead))

    async def build(self, job: BuildJob, publish: Publish) -> IndexT:
        """Fetch, decode and index every chunk the manifest lists; return the searchable index."""
        try:
            async with asyncio.timeout_at(job.deadline):
                return await self._build(job, publish)
        except TimeoutError:
            raise LoadTimeout() from None

    def adopt(self, job: BuildJob, index: IndexT, publish: Publish) -> IndexT:
        """Take an index restored from disk for ``job``, reporting progress as a load would.

        Clients' progress bars count on one ``chunk_downloaded`` per manifest chunk and an
        ``index_building``. A manifest without ``dimensions`` gets its memory pre-flight here,
        from the restored index's dimension. Closes ``index`` if that refuses it.
        """
        try:
            if job.manifest.dimensions is None and index.dimensions is not None:
                check_memory(
                    job.manifest.vector_count, index.dimensions, self._config.memory_limit_bytes
                )
        except BaseException:
            index.close()
            raise
        entries = sorted(job.manifest.chunks, key=lambda entry: entry.chunk_id)
        progress = _Progress(len(entries), publish)
        for entry in entries:
            progress.chunk_done(entry.chunk_id)
        publish(index_building(job.manifest.vector_count))
        return index

    async def _build(self, job: BuildJob, publish: Publish) -> IndexT:
        pending = sorted(job.manifest.chunks, key=lambda entry: entry.chunk_id)
        progress = _Progress(len(pending), publish)
        dims = job.manifest.dimensions
        feeder: _Feeder[IndexT] | None = None
        try:
            if dims is None:
                # No dimension in the manifest: read chunks one at a time until one gives it,
                # and run the memory pre-flight on it before any other chunk is fetched.
                while pending and feeder is None:
                    entry = pending.pop(0)
                    data = await self._fetch(job, entry)
                    chunk = await self._in_worker(decode_chunk, data, job.session_key, entry, None)
                    del data
                    if chunk.ids:
                        dims = int(chunk.vectors.shape[1])
                        check_memory(
                            job.manifest.vector_count, dims, self._config.memory_limit_bytes
                        )
                        feeder = _Feeder(self._new_index(dims, job.manifest.vector_count))
                        self._observer.on_vectors_loaded(await self._in_worker(feeder.add, chunk))
                    progress.chunk_done(entry.chunk_id)
            if feeder is None:
                feeder = _Feeder(self._new_index(dims, job.manifest.vector_count))
            await self._stream(job, pending, feeder, dims, progress)
            publish(index_building(feeder.vector_count))
            started = time.perf_counter()
            await self._in_worker(feeder.finish)
            self._observer.on_index_finished(time.perf_counter() - started)
            return feeder.index
        except BaseException:
            if feeder is not None:
                feeder.discard()
            raise

    async def _stream(
        self,
        job: BuildJob,
        entries: Sequence[ChunkEntry],
        feeder: _Feeder[IndexT],
        dims: int | None,
        progress: _Progress,
    ) -> None:
        """Fetch and ingest ``entries``, at most ``self._parallel`` in flight."""
        slots = asyncio.Semaphore(self._parallel)

        async def one(entry: ChunkEntry) -> None:
            # The slots cover fetch and ingest, so raw chunk bytes held at once stay bounded.
            async with slots:
                data = await self._fetch(job, entry)
                added = await self._in_worker(_ingest, feeder, data, job.session_key, entry, dims)
            self._observer.on_vectors_loaded(added)
            progress.chunk_done(entry.chunk_id)

        try:
            async with asyncio.TaskGroup() as group:
                for entry in entries:
                    group.create_task(one(entry))
        except BaseExceptionGroup as errors:
            raise _first_error(errors) from None

    async def _fetch(self, job: BuildJob, entry: ChunkEntry) -> bytes:
        return await self._fetcher.chunk(job.manifest_path, entry.chunk_id, entry.cid, job.deadline)

    def _new_index(self, dims: int | None, expected_vectors: int) -> IndexT:
        return _index_call("create", lambda: self._make_index(dims, expected_vectors))

    async def _in_worker(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))


def _ingest(
    feeder: _Feeder[IndexT],
    data: bytes,
    key: bytes | None,
    entry: ChunkEntry,
    dims: int | None,
) -> int:
    """Decode, validate and add one chunk (worker thread); return how many vectors went in."""
    return feeder.add(decode_chunk(data, key, entry, dims))
