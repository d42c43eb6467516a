"""File fetching for loads: rate-limited, timed, portal-aware, errors mapped to load errors."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Protocol

from s5vec.errors import (
    ChunkDownloadFailed,
    ManifestDownloadFailed,
    ManifestNotFound,
    NotFound,
    PermanentStorageError,
    RetryableStorageError,
    StorageError,
)
from s5vec.formats.cid import is_blob_cid
from s5vec.formats.paths import chunk_path
from s5vec.loader.observer import LoadObserver
from s5vec.loader.ratelimit import RateGate
from s5vec.storage.base import Storage

logger = logging.getLogger(__name__)


class BlobReader(Protocol):
    """Content-addressed read-only source (``storage.portal.PortalBlobReader``)."""

    async def get_blob(self, cid: str) -> bytes:
        """Bytes whose BLAKE3 hash matches ``cid``; storage errors otherwise."""
        ...


def download_error_label(error: StorageError) -> str:
    """The ``code`` label of ``s5_download_errors_total`` for a failed fetch."""
    if isinstance(error, NotFound):
        return "NOT_FOUND"
    if isinstance(error, RetryableStorageError):
        return "UNAVAILABLE"
    if isinstance(error, PermanentStorageError):
        return "REFUSED"
    return error.code


class _SharedManifest:
    """One manifest GET and how many loads are using its bytes."""

    def __init__(self, task: asyncio.Task[bytes]) -> None:
        self.task = task
        self.users = 0


def _mark_retrieved(task: asyncio.Task[bytes]) -> None:
    # Every user may have left (cancelled) before the outcome came: retrieve it so asyncio
    # does not log "exception was never retrieved".
    if not task.cancelled():
        task.exception()


class FileFetcher:
    """Fetches manifests and chunks for every load of one process.

    One per process: it owns the gates wrapping the shared per-backend limiters (the local
    backend gets none), and shares one manifest GET between the sessions loading it at once.
    Chunks come from the storage path; a chunk whose ``cid`` is a real S5 blob CID comes from
    the portal when one is configured, falling back to the path when the portal fails (the
    path holds the same bytes and the portal is only a second source, so a portal outage
    should not fail a load that storage can serve).
    """

    def __init__(
        self,
        storage: Storage,
        observer: LoadObserver,
        *,
        storage_gate: RateGate | None,
        portal: BlobReader | None,
        portal_gate: RateGate | None,
        local_timeout_s: float,
    ) -> None:
        self._storage = storage
        self._observer = observer
        self._storage_gate = storage_gate if storage.remote else None
        self._portal = portal
        self._portal_gate = portal_gate
        self._local_timeout_s = None if storage.remote else local_timeout_s
        self._manifests: dict[str, _SharedManifest] = {}

    @asynccontextmanager
    async def manifest(self, path: str, deadline: float) -> AsyncIterator[bytes]:
        """The manifest's bytes as stored, shared while any load that read them is under way.

        The first session fetches; every session that arrives while another is still inside
        this context (fetching, or loading what the manifest lists) reuses those bytes rather
        than GET them again. They would only differ if the database changed during that
        load, and then the newcomer sees the version the load in flight is building, as if
        it had arrived a moment earlier. Once the last such session leaves, the next one
        fetches afresh, so a changed manifest is seen (and is a cache miss).
        """
        shared = self._manifests.get(path)
        if shared is None:
            shared = _SharedManifest(asyncio.create_task(self._fetch_manifest(path, deadline)))
            shared.task.add_done_callback(_mark_retrieved)
            self._manifests[path] = shared
        shared.users += 1
        try:
            # Shielded: one session cancelling must not cancel the GET the others wait for.
            yield await asyncio.shield(shared.task)
        finally:
            shared.users -= 1
            if shared.users == 0 and self._manifests.get(path) is shared:
                del self._manifests[path]

    async def chunk(self, manifest_path: str, chunk_id: int, cid: str, deadline: float) -> bytes:
        """One chunk's bytes, from the portal when ``cid`` is a blob CID, else from the path."""
        if self._portal is not None and is_blob_cid(cid):
            portal = self._portal
            try:
                return await self._timed(
                    lambda: portal.get_blob(cid), self._portal_gate, deadline, None
                )
            except StorageError as exc:
                logger.warning(
                    "portal fetch of chunk %d failed (%s); reading its path instead",
                    chunk_id,
                    exc.message,
                )
        try:
            return await self._from_storage(chunk_path(manifest_path, chunk_id), deadline)
        except NotFound:
            raise ChunkDownloadFailed(f"Chunk {chunk_id} is missing from storage") from None
        except StorageError as exc:
            raise ChunkDownloadFailed(
                f"Chunk {chunk_id} could not be downloaded: {exc.message}"
            ) from None

    async def _fetch_manifest(self, path: str, deadline: float) -> bytes:
        try:
            return await self._from_storage(path, deadline)
        except NotFound:
            raise ManifestNotFound() from None
        except StorageError as exc:
            raise ManifestDownloadFailed(
                f"Could not download the manifest: {exc.message}"
            ) from None

    async def _from_storage(self, path: str, deadline: float) -> bytes:
        storage = self._storage
        return await self._timed(
            lambda: storage.get(path), self._storage_gate, deadline, self._local_timeout_s
        )

    async def _timed(
        self,
        fetch: Callable[[], Awaitable[bytes]],
        gate: RateGate | None,
        deadline: float,
        timeout_s: float | None,
    ) -> bytes:
        if gate is not None:
            await gate.acquire(deadline)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                data = await fetch()
        except TimeoutError:
            self._observer.on_download(time.perf_counter() - started, "TIMEOUT")
            raise RetryableStorageError("Storage did not answer in time") from None
        except StorageError as exc:
            self._observer.on_download(time.perf_counter() - started, download_error_label(exc))
            raise
        self._observer.on_download(time.perf_counter() - started, None)
        return data
