"""The ``local`` backend: a directory laid out by S5 path, bytes exactly as a client stores them."""

from __future__ import annotations

import asyncio
import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from s5vec.errors import NotFound, PermanentStorageError, RetryableStorageError, StorageError
from s5vec.storage.base import Storage
from s5vec.storage.paths import TEMP_PREFIX, is_reserved, split_dir, split_path

T = TypeVar("T")

_NOT_FOUND_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR})
_TRANSIENT_ERRNOS = frozenset({errno.EAGAIN, errno.EINTR, errno.EMFILE, errno.ENFILE, errno.EBUSY})


def _map_os_error(exc: OSError) -> StorageError:
    """Turn an OSError into the storage taxonomy, without quoting the path."""
    if exc.errno in _NOT_FOUND_ERRNOS:
        return NotFound()
    if exc.errno in _TRANSIENT_ERRNOS:
        return RetryableStorageError(f"Local storage is busy ({errno.errorcode[exc.errno]})")
    code = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return PermanentStorageError(f"Local storage refused the operation ({code})")


def _listdir(directory: Path) -> list[str]:
    """Sorted entry names, directories with a trailing ``/``, reserved names (temp files) hidden."""
    try:
        with os.scandir(directory) as entries:
            names = [
                entry.name + "/" if entry.is_dir() else entry.name
                for entry in entries
                if not is_reserved(entry.name)
            ]
    except OSError as exc:
        raise _map_os_error(exc) from None
    return sorted(names)


class LocalStorage(Storage):
    """Files under ``root``: the file for S5 path ``P`` is ``root/P``.

    Segments are validated first (``split_path``), then the joined path is resolved and must
    stay under the resolved root, so neither ``..`` nor a symlink can lead outside it. Writes
    go to a temp file in the target directory, are fsynced, then ``os.replace``d into place.
    Blocking I/O runs in a worker thread: chunk files can be tens of MB.
    """

    name = "local"
    remote = False

    def __init__(self, root: Path, *, create: bool = True) -> None:
        """Serve ``root``, creating it (and its parents) unless ``create`` is False."""
        if create:
            try:
                Path(root).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise PermanentStorageError(
                    f"Cannot create the storage directory ({type(exc).__name__})"
                ) from None
        self._root = Path(root).resolve()

    @property
    def root(self) -> Path:
        """The resolved directory this backend serves."""
        return self._root

    def _resolve(self, segments: tuple[str, ...]) -> Path:
        """Join and resolve ``segments`` under the root; refuse anything that lands outside."""
        try:
            target = self._root.joinpath(*segments).resolve()
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop
            raise PermanentStorageError("Storage path cannot be resolved") from None
        if target != self._root and not target.is_relative_to(self._root):
            raise PermanentStorageError("Storage path leaves the store")
        return target

    async def _run(self, operation: Callable[[Path], T], segments: tuple[str, ...]) -> T:
        """Resolve and operate in a worker thread: resolving reads symlinks from disk too."""
        return await asyncio.to_thread(lambda: operation(self._resolve(segments)))

    async def get(self, path: str) -> bytes:
        """Return the file's bytes exactly as stored."""
        return await self._run(self._read, split_path(path))

    async def put(self, path: str, data: bytes) -> None:
        """Store ``data`` at ``path`` atomically, creating parent directories."""
        await self._run(lambda target: self._write(target, data), split_path(path))

    async def delete(self, path: str) -> None:
        """Remove the file at ``path``; ``NotFound`` if it is absent."""
        await self._run(self._unlink, split_path(path))

    async def list(self, path: str) -> list[str]:
        """Names directly under directory ``path`` (directories end in ``/``), sorted."""
        return await self._run(_listdir, split_dir(path))

    async def exists(self, path: str) -> bool:
        """Whether a file exists at ``path``."""
        return await self._run(self._is_file, split_path(path))

    async def health(self) -> dict[str, Any]:
        """Healthy when the root exists and a file can be written and removed in it."""
        healthy = await asyncio.to_thread(self._probe)
        return {"backend": self.name, "healthy": healthy}

    @staticmethod
    def _is_file(target: Path) -> bool:
        try:
            return target.is_file()
        except OSError as exc:
            raise _map_os_error(exc) from None

    @staticmethod
    def _read(target: Path) -> bytes:
        try:
            return target.read_bytes()
        except OSError as exc:
            raise _map_os_error(exc) from None

    @staticmethod
    def _write(target: Path, data: bytes) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir():
                raise PermanentStorageError("Storage path names a directory")
            fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
        except OSError as exc:
            raise PermanentStorageError(
                f"Local storage cannot create the file ({type(exc).__name__})"
            ) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, target)
        except OSError as exc:
            Path(tmp_name).unlink(missing_ok=True)
            raise _map_os_error(exc) from None
        LocalStorage._fsync_dir(target.parent)

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        # Makes the rename durable; some filesystems refuse fsync on a directory, which is fine.
        try:
            dir_fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)

    @staticmethod
    def _unlink(target: Path) -> None:
        if target.is_dir():
            raise NotFound()
        try:
            target.unlink()
        except OSError as exc:
            raise _map_os_error(exc) from None

    def _probe(self) -> bool:
        if not self._root.is_dir():
            return False
        try:
            with tempfile.TemporaryFile(prefix=TEMP_PREFIX, dir=self._root):
                return True
        except OSError:
            return False
