"""An in-process fake backend for unit tests, with small fault hooks for loader tests."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from s5vec.errors import NotFound, PermanentStorageError, StorageError
from s5vec.storage.base import Storage
from s5vec.storage.paths import split_dir, split_path


class FakeMemoryStorage(Storage):
    """A dict of path -> bytes that keeps the real contract (validation, NotFound, listing).

    Fault hooks, applied to every operation on the exact path:
    - ``set_delay(path, seconds)``: sleep before answering;
    - ``script_errors(path, [err, None, ...])``: each call takes the next item; an error is
      raised, ``None`` lets the call through; once the script is used up calls succeed.
    ``calls`` records ``(operation, path)`` in order, so tests can count fetches.
    ``remote`` is settable so tests can exercise the loader's rate-limited path.
    """

    name = "memory"

    def __init__(self, files: Mapping[str, bytes] | None = None, *, remote: bool = False) -> None:
        self.remote = remote
        self._files: dict[tuple[str, ...], bytes] = {}
        self._delays: dict[str, float] = {}
        self._scripts: dict[str, deque[StorageError | None]] = {}
        self.calls: list[tuple[str, str]] = []
        for path, data in (files or {}).items():
            self._store(split_path(path), data)

    def set_delay(self, path: str, seconds: float) -> None:
        """Delay every operation on ``path`` by ``seconds``."""
        self._delays[path] = seconds

    def script_errors(self, path: str, errors: Iterable[StorageError | None]) -> None:
        """Queue outcomes for the next operations on ``path`` (an error, or None to pass)."""
        self._scripts.setdefault(path, deque()).extend(errors)

    async def _enter(self, operation: str, path: str) -> None:
        self.calls.append((operation, path))
        delay = self._delays.get(path)
        if delay:
            await asyncio.sleep(delay)
        script = self._scripts.get(path)
        if script:
            error = script.popleft()
            if error is not None:
                raise error

    def _is_dir(self, segments: tuple[str, ...]) -> bool:
        depth = len(segments)
        return any(len(key) > depth and key[:depth] == segments for key in self._files)

    def _store(self, segments: tuple[str, ...], data: bytes) -> None:
        if any(segments[:i] in self._files for i in range(1, len(segments))):
            raise PermanentStorageError("A parent of the storage path is a file")
        if self._is_dir(segments):
            raise PermanentStorageError("Storage path names a directory")
        self._files[segments] = bytes(data)

    async def get(self, path: str) -> bytes:
        """Return the file's bytes exactly as stored."""
        segments = split_path(path)
        await self._enter("get", path)
        try:
            return self._files[segments]
        except KeyError:
            raise NotFound() from None

    async def put(self, path: str, data: bytes) -> None:
        """Store a copy of ``data`` at ``path``."""
        segments = split_path(path)
        await self._enter("put", path)
        self._store(segments, data)

    async def delete(self, path: str) -> None:
        """Remove the file at ``path``; ``NotFound`` if it is absent."""
        segments = split_path(path)
        await self._enter("delete", path)
        if self._files.pop(segments, None) is None:
            raise NotFound()

    async def list(self, path: str) -> list[str]:
        """Names directly under directory ``path`` (directories end in ``/``), sorted."""
        segments = split_dir(path)
        await self._enter("list", path)
        depth = len(segments)
        names = {
            key[depth] + ("/" if len(key) > depth + 1 else "")
            for key in self._files
            if len(key) > depth and key[:depth] == segments
        }
        if not names and segments:
            raise NotFound()
        return sorted(names)

    async def exists(self, path: str) -> bool:
        """Whether a file exists at ``path``."""
        segments = split_path(path)
        await self._enter("exists", path)
        return segments in self._files

    async def health(self) -> dict[str, Any]:
        """Always healthy."""
        return {"backend": self.name, "healthy": True}
