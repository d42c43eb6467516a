"""Built indexes saved under the data directory and restored after a restart (SPEC section 9).

Names. An entry is the file ``<id>.s5vi``, id = HMAC-SHA256(host secret, manifest path, key
material, manifest digest), each part length-prefixed. The host secret is 32 random bytes
created once in the directory (mode 0600); the key material is ``plaintext`` for a keyless
session (its files were all plaintext) and HKDF-SHA256(session key, info "s5vec index id")
otherwise, never the key itself. The in-memory cache key uses a per-process salt that a
restart loses; this name survives restarts and still says nothing: without the host secret
it cannot be tied to a path, and nobody can tell from it which key it belongs to. A changed
manifest has another digest, so another name: a miss.

At rest. Entries of a session with a key are sealed (``sealed``) with AES-256-GCM under
HKDF-SHA256(session key, salt = entry id, info "s5vec index at rest"): unreadable without
the key. Another key derives another name, so it misses; a file that fails authentication
anyway (damaged, or not written for this name) is a miss and is deleted: never vectors.
Entries of keyless sessions are plain images.

Restoring maps a plain image where it lies (``index.persist``). A sealed entry keeps its
full-precision vectors sealed row by row (60% of the bytes; a restore only hashes them):
the restored index opens just the rows a search re-scores, straight from the entry, until a
background thread has copied them, opened, into a spill file in the spill directory (where
a cold load keeps them too). The rest of the image (codes, records, graph: what a cold load
holds in RAM) is decrypted into an anonymous in-memory file and mapped the same way.

Saving runs in the background after a fresh load, once the graph build has settled (so the
image holds the graph); a restored index whose graph had to be rebuilt is saved again when
it is in. One writer thread; temp file, fsync, rename; then the least recently used entries
(restores touch their file) go until the directory is within ``max_bytes``. An entry larger
than the bound is not saved. A save that fails is logged and forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import os
import secrets
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import structlog
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from s5vec.cache.keys import CacheKey
from s5vec.cache.sealed import SealedWriter, unseal
from s5vec.errors import DecryptionFailed
from s5vec.index import DatabaseIndex, IndexConfig
from s5vec.index.graph import OnBuilt
from s5vec.index.image import UnusableImage
from s5vec.index.persist import (
    Snapshot,
    graph_settled,
    open_image,
    snapshot,
    write_image,
)

log = structlog.get_logger(__name__)

SECRET_FILE = "host-secret"
SECRET_SIZE = 32
SUFFIX = ".s5vi"
_ID_INFO = b"s5vec index id"
_AT_REST_INFO = b"s5vec index at rest"


def _hkdf(key: bytes, salt: bytes | None, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)


@dataclass(frozen=True, slots=True)
class _Entry:
    """Where one index is persisted, and the key sealing it (None: a plain image)."""

    id: bytes
    path: Path
    seal_key: bytes | None = field(repr=False)

    @property
    def name(self) -> str:
        """The id in hex (the file name's stem; what the image header records)."""
        return self.id.hex()


class PersistedIndexes:
    """The catalogue of persisted indexes in one directory; one per process."""

    def __init__(
        self,
        directory: Path,
        config: IndexConfig,
        host_secret: bytes,
        *,
        max_bytes: int,
        scratch_dir: Path | None = None,
        on_graph_built: OnBuilt | None = None,
        poll_s: float = 1.0,
    ) -> None:
        if len(host_secret) != SECRET_SIZE or max_bytes < 0 or poll_s <= 0:
            raise ValueError("a 32-byte host secret, max_bytes >= 0 and poll_s > 0 are needed")
        self.directory = directory
        self._config = config
        self._secret = host_secret
        self._max_bytes = max_bytes
        self._scratch = scratch_dir or directory
        self._on_graph_built = on_graph_built
        self._poll_s = poll_s
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="s5vec-persist")
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._closing = asyncio.Event()  # wakes saves waiting for a graph at shutdown

    @classmethod
    def open(
        cls,
        directory: Path,
        config: IndexConfig,
        *,
        max_bytes: int,
        scratch_dir: Path | None = None,
        on_graph_built: OnBuilt | None = None,
        poll_s: float = 1.0,
    ) -> PersistedIndexes:
        """Use ``directory`` (created 0700), its host secret (created once), drop leftovers
        of interrupted saves and entries beyond the bound. Blocking: call it in a thread."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for leftover in directory.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
        persisted = cls(
            directory,
            config,
            _host_secret(directory),
            max_bytes=max_bytes,
            scratch_dir=scratch_dir,
            on_graph_built=on_graph_built,
            poll_s=poll_s,
        )
        persisted.enforce_bound()
        return persisted

    # --- lookups ----------------------------------------------------------------------

    def _entry(self, key: CacheKey, session_key: bytes | None) -> _Entry:
        material = b"plaintext" if session_key is None else _hkdf(session_key, None, _ID_INFO)
        mac = hmac.new(self._secret, digestmod=hashlib.sha256)
        for part in (key.manifest_path.encode(), material, key.manifest_digest.encode()):
            mac.update(len(part).to_bytes(8, "little"))
            mac.update(part)
        entry_id = mac.digest()
        seal_key = None if session_key is None else _hkdf(session_key, entry_id, _AT_REST_INFO)
        return _Entry(entry_id, self.directory / f"{entry_id.hex()}{SUFFIX}", seal_key)

    def path_for(self, key: CacheKey, session_key: bytes | None) -> Path:
        """The file an index for ``key`` read with ``session_key`` is persisted in."""
        return self._entry(key, session_key).path

    async def restore(self, key: CacheKey, session_key: bytes | None) -> DatabaseIndex | None:
        """The index persisted for ``key`` and ``session_key``, searchable, or None.

        None when nothing was saved under this name, or it is unusable (then deleted), or
        it cannot be read now. Never raises; cancelling closes an index restored meanwhile.
        """
        if self._closed:
            return None
        entry = self._entry(key, session_key)
        loop = asyncio.get_running_loop()
        opening = loop.run_in_executor(None, self._open, entry)
        try:
            index = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_restored)
            raise
        if index is not None and not graph_settled(index):
            self._schedule(entry, index, only_with_graph=True)
        return index

    def _open(self, entry: _Entry) -> DatabaseIndex | None:
        try:
            file = open(entry.path, "rb")  # noqa: SIM115 - handed over to the index
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("persisted_index_unreadable", entry=entry.name[:16], error=exc.strerror)
            return None
        try:
            index = self._open_file(entry, file)
        except (UnusableImage, DecryptionFailed) as exc:
            log.warning("persisted_index_unusable", entry=entry.name[:16], reason=str(exc))
            entry.path.unlink(missing_ok=True)
            return None
        except Exception:
            log.exception("persisted_index_restore_failed", entry=entry.name[:16])
            return None
        with contextlib.suppress(OSError):
            os.utime(entry.path)  # least recently used goes first
        log.info("persisted_index_restored", entry=entry.name[:16], vectors=len(index))
        return index

    def _open_file(self, entry: _Entry, file: IO[bytes]) -> DatabaseIndex:
        if entry.seal_key is None:
            return open_image(file, self._config, entry.name, on_graph_built=self._on_graph_built)
        plain = _memory_file(self._scratch)
        try:
            rows = unseal(file.fileno(), entry.seal_key, entry.id, plain)
            plain.flush()
        except BaseException:
            plain.close()
            file.close()
            raise
        return open_image(
            plain,
            self._config,
            entry.name,
            authenticated=True,
            sealed_rows=(file, rows),  # the vectors stay sealed in the entry, read row by row
            on_graph_built=self._on_graph_built,
        )

    # --- saving -----------------------------------------------------------------------

    def save_later(self, key: CacheKey, index: DatabaseIndex, session_key: bytes | None) -> None:
        """Persist a freshly built ``index`` in the background, once its graph has settled."""
        if not self._closed:
            self._schedule(self._entry(key, session_key), index, only_with_graph=False)

    def _schedule(self, entry: _Entry, index: DatabaseIndex, *, only_with_graph: bool) -> None:
        task = asyncio.get_running_loop().create_task(
            self._save(entry, index, only_with_graph), name="s5vec-index-persist"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _save(self, entry: _Entry, index: DatabaseIndex, only_with_graph: bool) -> None:
        try:
            # The build thread signals a threading.Event; polling it holds no thread for the
            # minutes a large graph takes. At shutdown a build still running is abandoned.
            while not graph_settled(index):
                if self._closing.is_set():
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), self._poll_s)
            if only_with_graph and not index.graph_ready:
                return
            snap = snapshot(index)  # None once the index was closed: nothing to save
            if snap is not None:
                await asyncio.get_running_loop().run_in_executor(
                    self._writer, functools.partial(self._write, entry, snap)
                )
        except Exception:
            log.exception("persisted_index_save_failed", entry=entry.name[:16])

    def _write(self, entry: _Entry, snap: Snapshot) -> None:
        """Write one image (writer thread); the snapshot is released whatever happens."""
        try:
            size = snap.image_bytes()
            if size > self._max_bytes:
                log.info("persisted_index_too_large", entry=entry.name[:16], bytes=size)
                return
            descriptor, name = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
            temp = Path(name)
            try:
                with os.fdopen(descriptor, "wb") as out:
                    if entry.seal_key is None:
                        written = write_image(snap, out, entry.name, self.directory)
                    else:
                        rows, row_bytes = snap.spilled
                        sealer = SealedWriter(
                            out, entry.seal_key, entry.id, rows=rows, row_bytes=row_bytes
                        )
                        for block in snap.vector_blocks():
                            sealer.write_rows(block)
                        written = write_image(
                            snap, sealer, entry.name, self.directory, vectors=False
                        )
                        sealer.close()
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, entry.path)
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
            log.info("persisted_index_saved", entry=entry.name[:16], bytes=written)
            self.enforce_bound()
        finally:
            snap.release()

    # --- bounds and lifetime ----------------------------------------------------------

    def enforce_bound(self) -> None:
        """Delete least recently used entries until they fit ``max_bytes`` (blocking)."""
        entries: list[tuple[int, int, Path]] = []
        for path in self.directory.glob(f"*{SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                status = path.stat()
                entries.append((status.st_mtime_ns, status.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self._max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
            log.info("persisted_index_evicted", entry=path.stem[:16], bytes=size)

    def disk_bytes(self) -> int:
        """Bytes held by persisted entries now."""
        total = 0
        for path in self.directory.glob(f"*{SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    async def drain(self) -> None:
        """Wait until every save scheduled so far has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Abandon saves still waiting for a graph build, finish the others; idempotent."""
        self._closed = True
        self._closing.set()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await asyncio.to_thread(self._writer.shutdown, wait=True)


def _host_secret(directory: Path) -> bytes:
    """The directory's host secret, created on first use; a damaged one is replaced, which
    orphans every entry named with it, so those are deleted."""
    path = directory / SECRET_FILE
    with contextlib.suppress(FileNotFoundError):
        secret = path.read_bytes()
        if len(secret) == SECRET_SIZE:
            return secret
        path.unlink()
    for orphan in directory.glob(f"*{SUFFIX}"):
        orphan.unlink(missing_ok=True)
    secret = secrets.token_bytes(SECRET_SIZE)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process on this directory made it just now
        return path.read_bytes()
    with os.fdopen(descriptor, "wb") as out:
        out.write(secret)
        out.flush()
        os.fsync(out.fileno())
    return secret


def _memory_file(scratch: Path) -> IO[bytes]:
    """An anonymous in-memory file (memfd), else an unlinked file in ``scratch``.

    The decrypted codes, records and graph are what a cold load holds in RAM anyway; a memfd
    never reaches the disk and was written twice as fast as a page-cache file here.
    """
    try:
        return os.fdopen(os.memfd_create("s5vec-image", os.MFD_CLOEXEC), "w+b")
    except (AttributeError, OSError):
        return tempfile.TemporaryFile(dir=scratch, prefix="s5vec-", suffix=".img")


def _close_restored(opening: asyncio.Future[DatabaseIndex | None]) -> None:
    """Close an index whose restore finished after its caller was cancelled."""
    if not opening.cancelled() and opening.exception() is None:
        index = opening.result()
        if index is not None:
            index.close()
