"""Reference-counted cache values: an evicted index stays open while sessions still use it."""

from __future__ import annotations

from types import TracebackType
from typing import Generic, Literal, Protocol, TypeVar

import structlog

from s5vec.cache.keys import CacheKey

log = structlog.get_logger(__name__)


class CacheValue(Protocol):
    """What the cache needs from a built index (the cache never imports the index package)."""

    def memory_bytes(self) -> int:
        """Bytes the value holds in memory, counted against the cache's byte bound."""
        ...

    def close(self) -> None:
        """Free the value's memory; called exactly once, when no one can reach it any more."""
        ...


V = TypeVar("V", bound=CacheValue)

Source = Literal["cache", "load", "shared"]
"""How a lease was obtained: a cache hit, this caller's own load, or another caller's load."""


class Entry(Generic[V]):
    """A loaded value, its measured size and lease count; closed once uncached and unleased."""

    __slots__ = ("cached", "closed", "expires_at", "leases", "size", "value")

    def __init__(self, value: V) -> None:
        self.value = value
        self.size = measure(value)
        self.expires_at = 0.0
        self.leases = 0
        self.cached = False
        self.closed = False

    def retain(self) -> None:
        """Count one more holder."""
        if self.closed:
            raise RuntimeError("cannot lease a closed cache value")
        self.leases += 1

    def release(self) -> None:
        """Drop one holder; close the value if it was the last and the cache let it go."""
        self.leases -= 1
        self._close_if_unreachable()

    def drop(self) -> None:
        """The cache no longer holds this entry (evicted, expired, cleared or never cached)."""
        self.cached = False
        self._close_if_unreachable()

    def _close_if_unreachable(self) -> None:
        if self.cached or self.leases > 0 or self.closed:
            return
        self.closed = True
        try:
            self.value.close()
        except Exception:
            # Closing runs inside evictions triggered by other sessions: never fail them.
            log.exception("cache_value_close_failed")


def measure(value: CacheValue) -> int:
    """The value's ``memory_bytes()``, refusing negative sizes."""
    size = value.memory_bytes()
    if size < 0:
        raise ValueError("memory_bytes() must not be negative")
    return size


class Lease(Generic[V]):
    """One holder's use of a cached value; ``release()`` (or ``with``) when done."""

    def __init__(self, key: CacheKey, entry: Entry[V], source: Source) -> None:
        entry.retain()
        self.key = key
        self.source: Source = source
        self._entry: Entry[V] | None = entry

    @property
    def value(self) -> V:
        """The leased value; an error after ``release()``."""
        if self._entry is None:
            raise RuntimeError("lease already released")
        return self._entry.value

    @property
    def released(self) -> bool:
        """Whether ``release()`` was called."""
        return self._entry is None

    def release(self) -> None:
        """Give the value back; idempotent."""
        entry, self._entry = self._entry, None
        if entry is not None:
            entry.release()

    def __enter__(self) -> Lease[V]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
