"""The cache of built indexes shared across sessions (SPEC sections 3 and 9).

Bounds. At most ``max_entries`` indexes (``VECTOR_INDEX_CACHE_SIZE``, 0 disables caching),
at most ``max_bytes`` in total (``VECTOR_CACHE_MAX_MEMORY_MB``, counted with each value's
``memory_bytes()``), each for ``ttl_s`` after it was cached (``VECTOR_INDEX_CACHE_TTL_HOURS``);
least recently used goes first. A value larger than ``max_bytes`` is served but not cached.
Sizes are measured once, when cached; call ``remeasure(key)`` after a value grows (e.g. an
ANN graph finished building in the background), or ``remeasure_changed()`` now and then.
Expired entries leave on the next cache operation; call ``sweep()`` periodically to free
them on an idle host.

Leases. Every caller gets a ``Lease``; a value is closed exactly once, when it has left the
cache (evicted, expired, cleared, or never admitted) AND every lease was released. Evicted
memory still leased is owned by the sessions that hold it and is not counted by
``memory_bytes()``.

Single flight. ``get_or_load(key, loader, on_progress)`` on a miss starts ``loader`` in a
task of its own unless a load for the same key is already in flight, in which case the
caller joins it: 20 concurrent callers cause one loader call. The first caller's
``loader`` is the one that runs, so it must not depend on that caller staying connected.
- Success: the value is cached (if it fits) and every waiter gets its own lease.
- Failure: every waiter gets the same exception; nothing is cached; the next call loads anew.
- A waiter cancelled (its session disconnected) just leaves; the load goes on for the rest.
- When the last waiter leaves, the load task is cancelled (the loader frees its partial
  state as ``CancelledError`` unwinds it) and the key is free for a fresh load.
- If the shared load is cancelled by anything else, waiters get ``s5vec.errors.Cancelled``.

Progress. The loader is called as ``loader(publish)``; each ``publish(event)`` is recorded on
the in-flight load and handed to the ``on_progress`` callback of every waiter. A caller who
joins a load already under way first receives a replay of every event so far, in order,
then the live ones, so each session can show a full progress history. Callbacks run
synchronously inside ``publish``: keep them cheap (e.g. put the event on the session's
send queue); an exception in one is logged and does not disturb the load. A cache hit runs
no loader and sends no events: ``lease.source == "cache"`` tells the caller to report
completion itself. The cache does not interpret events (any type ``E``).

Counting. ``stats.hits`` counts lookups served from the cache, ``stats.misses`` the calls
that were not (whether they started a load or joined one); ``on_hit`` / ``on_miss`` are
called at the same moments, for metrics. Not thread-safe: use it from one event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic

from s5vec.cache.flight import E, Flight, Publish
from s5vec.cache.keys import CacheKey, new_salt
from s5vec.cache.lease import Entry, Lease, Source, V, measure
from s5vec.cache.store import BoundedStore
from s5vec.errors import Cancelled

Loader = Callable[[Publish[E]], Awaitable[V]]
"""Builds the value; receives the function to publish progress events with."""


@dataclass(slots=True)
class CacheStats:
    """Lookup counters: ``hits`` served from the cache, ``misses`` not."""

    hits: int = 0
    misses: int = 0


class IndexCache(Generic[V, E]):
    """LRU + TTL + byte-bounded cache of built indexes, with leases and single-flight loads."""

    def __init__(
        self,
        *,
        max_entries: int,
        max_bytes: int,
        ttl_s: float,
        timer: Callable[[], float] = time.monotonic,
        salt: bytes | None = None,
        on_hit: Callable[[], None] | None = None,
        on_miss: Callable[[], None] | None = None,
    ) -> None:
        if max_entries < 0 or max_bytes < 0 or not ttl_s > 0:
            raise ValueError("cache bounds must be >= 0 and the TTL > 0")
        self.salt = new_salt() if salt is None else salt
        self.stats = CacheStats()
        self._ttl_s = ttl_s
        self._timer = timer
        self._store: BoundedStore[V] = BoundedStore(max_entries, max_bytes, timer)
        self._flights: dict[CacheKey, Flight[V, E]] = {}
        self._on_hit = on_hit
        self._on_miss = on_miss

    def key_for(
        self, manifest_path: str, session_key: bytes | None, manifest_bytes: bytes
    ) -> CacheKey:
        """The cache key for a database read with ``session_key`` (None: plaintext files)."""
        return CacheKey.build(manifest_path, session_key, manifest_bytes, self.salt)

    def acquire(self, key: CacheKey) -> Lease[V] | None:
        """A lease on the cached value for ``key``, or None (no load is started)."""
        self._store.expire()
        entry = self._store.get(key)
        if entry is None:
            return None
        self._count(hit=True)
        return Lease(key, entry, "cache")

    async def get_or_load(
        self,
        key: CacheKey,
        loader: Loader[E, V],
        on_progress: Publish[E] | None = None,
    ) -> Lease[V]:
        """A lease on ``key``'s value: cached, joined from a load in flight, or loaded now."""
        lease = self.acquire(key)
        if lease is not None:
            return lease
        self._count(hit=False)
        flight = self._flights.get(key)
        source: Source = "shared"
        if flight is None:
            flight = self._start(key, loader)
            source = "load"
        return await self._wait(key, flight, source, on_progress)

    def in_flight(self, key: CacheKey) -> bool:
        """Whether a load for ``key`` is under way."""
        return key in self._flights

    def remeasure(self, key: CacheKey) -> None:
        """Re-read a cached value's size and re-apply the bounds (may evict it or others)."""
        self._store.expire()
        entry = self._store.pop(key, None)
        if entry is None:
            return
        entry.size = measure(entry.value)
        if self._store.fits(entry):
            self._store.insert(key, entry)
        else:
            entry.drop()

    def remeasure_changed(self) -> int:
        """``remeasure`` every cached value whose size changed since; return how many did.

        Unchanged entries keep their place in the LRU order; a changed one is re-inserted,
        so it counts as just used (its graph was built minutes after it was loaded).
        """
        self._store.expire()
        changed = [
            key
            for key in list(self._store)
            if measure(self._store.peek(key).value) != self._store.peek(key).size
        ]
        for key in changed:
            self.remeasure(key)
        return len(changed)

    def sweep(self) -> int:
        """Remove expired entries now; return how many left."""
        return len(self._store.expire())

    def clear(self) -> None:
        """Drop every cached entry (leased values close on their last release)."""
        self._store.expire()
        for key in list(self._store):
            self._store.pop(key).drop()

    def memory_bytes(self) -> int:
        """Bytes held by cached entries (leased-but-evicted values not included)."""
        return int(self._store.currsize)

    def __len__(self) -> int:
        return len(self._store)

    # --- single flight ----------------------------------------------------------------

    def _start(self, key: CacheKey, loader: Loader[E, V]) -> Flight[V, E]:
        flight: Flight[V, E] = Flight()
        flight.task = asyncio.create_task(self._run(key, flight, loader), name="s5vec-index-load")
        flight.task.add_done_callback(_mark_retrieved)
        self._flights[key] = flight
        return flight

    async def _run(self, key: CacheKey, flight: Flight[V, E], loader: Loader[E, V]) -> Entry[V]:
        try:
            value = await loader(flight.publish)
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]
        # From here on no await: admission is atomic with leaving the in-flight table.
        try:
            entry = Entry(value)
        except BaseException:
            value.close()
            raise
        if flight.waiters > 0:
            entry.retain()
            flight.hold = entry
        if self._store.fits(entry):
            entry.expires_at = self._timer() + self._ttl_s
            self._store.insert(key, entry)
        else:
            entry.drop()
        return entry

    async def _wait(
        self,
        key: CacheKey,
        flight: Flight[V, E],
        source: Source,
        on_progress: Publish[E] | None,
    ) -> Lease[V]:
        assert flight.task is not None
        flight.waiters += 1
        if on_progress is not None:
            flight.subscribe(on_progress)
        try:
            # shield: cancelling this waiter must not cancel the load shared with others.
            entry = await asyncio.shield(flight.task)
            return Lease(key, entry, source)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            raise Cancelled() from None
        finally:
            if on_progress is not None:
                flight.unsubscribe(on_progress)
            flight.waiters -= 1
            if flight.waiters == 0:
                self._last_waiter_left(key, flight)

    def _last_waiter_left(self, key: CacheKey, flight: Flight[V, E]) -> None:
        assert flight.task is not None
        if flight.task.done():
            flight.release_hold()
            return
        flight.task.cancel()
        if self._flights.get(key) is flight:
            del self._flights[key]

    def _count(self, *, hit: bool) -> None:
        if hit:
            self.stats.hits += 1
            if self._on_hit is not None:
                self._on_hit()
        else:
            self.stats.misses += 1
            if self._on_miss is not None:
                self._on_miss()


def _mark_retrieved(task: asyncio.Task[object]) -> None:
    # Waiters read the outcome through shield(); when all of them left first, retrieve it
    # here so asyncio does not log "exception was never retrieved".
    if not task.cancelled():
        task.exception()
