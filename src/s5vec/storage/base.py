"""The one storage interface every backend implements (SPEC section 6)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class Storage(ABC):
    """Async byte store addressed by S5 path (``home/vector-databases/...``).

    Contract, identical for every backend:
    - paths are relative S5 paths with ``/`` separators; a path that could escape the
      store (``..``, empty segments, absolute, NUL) raises ``PermanentStorageError``;
    - ``get`` of a missing file raises ``NotFound`` and is never retried;
    - ``RetryableStorageError`` means "retry later" (timeout, connection error, truncated
      body, 5xx, 429; ``retry_after`` carries a server hint in seconds when one was sent);
      backends that retry internally raise it only once their retries are exhausted;
    - ``PermanentStorageError`` means "give up" (other 4xx, refused writes).
    Nothing from an I/O library escapes: backends map their errors into ``s5vec.errors``.
    """

    name: str = "storage"
    remote: bool = False
    """True for backends behind a network: the loader rate-limits those."""

    @abstractmethod
    async def get(self, path: str) -> bytes:
        """Return the file's bytes exactly as stored."""

    @abstractmethod
    async def put(self, path: str, data: bytes) -> None:
        """Store ``data`` at ``path`` atomically, creating parent directories."""

    @abstractmethod
    async def delete(self, path: str) -> None:
        """Remove the file at ``path``; ``NotFound`` if it is absent."""

    @abstractmethod
    async def list(self, path: str) -> list[str]:
        """Names directly under directory ``path`` (directories end in ``/``), sorted."""

    @abstractmethod
    async def exists(self, path: str) -> bool:
        """Whether a file exists at ``path``."""

    @abstractmethod
    async def health(self) -> dict[str, Any]:
        """``{"backend", "healthy": bool, ...}`` describing reachability, never secrets."""

    async def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release pooled connections; the backend is unusable afterwards."""
