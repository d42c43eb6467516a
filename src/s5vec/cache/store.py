"""The bounded mapping behind the index cache: LRU order, per-entry expiry, two bounds.

cachetools' ``TLRUCache`` gives LRU order, a per-item expiry time and a byte bound (its
``maxsize`` with ``getsizeof`` = the entry's measured size). An entry-count bound is
added on top, and every way an entry can leave (LRU or byte eviction, expiry) is routed
through ``Entry.drop()``, which closes the value once no lease holds it. The expiry is
fixed when the entry is first cached (``Entry.expires_at``), so re-inserting it after a
re-measure does not extend its life.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic

from cachetools import Cache, TLRUCache

from s5vec.cache.keys import CacheKey
from s5vec.cache.lease import Entry, V


def _expiry(_key: CacheKey, entry: Entry[V], _now: float) -> float:
    return entry.expires_at


def _size(entry: Entry[V]) -> float:
    return entry.size


class BoundedStore(TLRUCache[CacheKey, Entry[V]], Generic[V]):
    """At most ``max_entries`` entries and ``max_bytes`` bytes; removals drop the entry."""

    def __init__(self, max_entries: int, max_bytes: int, timer: Callable[[], float]) -> None:
        super().__init__(maxsize=max_bytes, ttu=_expiry, timer=timer, getsizeof=_size)
        self.max_entries = max_entries

    def fits(self, entry: Entry[V]) -> bool:
        """Whether the entry can be cached at all (an oversized entry never is)."""
        return self.max_entries > 0 and entry.size <= self.maxsize

    def peek(self, key: CacheKey) -> Entry[V]:
        """The entry of ``key`` without making it the most recently used (KeyError if none)."""
        entry: Entry[V] = Cache.__getitem__(self, key)
        return entry

    def insert(self, key: CacheKey, entry: Entry[V]) -> None:
        """Cache ``entry`` (which must fit), evicting LRU entries until both bounds hold."""
        with self.timer as now:  # one frozen time for the whole insertion
            # A value for the same key can only be here if a load outlived its abandonment
            # (its loader swallowed the cancel) and a fresh load finished too: keep the newer.
            replaced = self.pop(key, None)
            if replaced is not None:
                replaced.drop()
            if not now < entry.expires_at:
                entry.drop()
                return
            entry.cached = True
            self[key] = entry

    def __setitem__(self, key: CacheKey, entry: Entry[V]) -> None:
        with self.timer:
            if key not in self:
                while len(self) >= self.max_entries:
                    self.popitem()
            super().__setitem__(key, entry)

    def popitem(self) -> tuple[CacheKey, Entry[V]]:
        """Evict the least recently used entry and drop it."""
        key, entry = super().popitem()
        entry.drop()
        return key, entry

    def expire(self, time: float | None = None) -> list[tuple[CacheKey, Entry[V]]]:
        """Remove expired entries and drop them."""
        expired = super().expire(time)
        for _key, entry in expired:
            entry.drop()
        return expired
