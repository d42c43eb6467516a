"""Fakes for cache unit tests: an index that only has a size, and a hand-driven clock."""

import asyncio
from collections.abc import Awaitable, Callable

from s5vec.cache import CacheKey, IndexCache


class FakeIndex:
    """In-memory fake of a built index: a size and a count of close() calls."""

    def __init__(self, size: int = 10, name: str = "") -> None:
        self.size = size
        self.name = name
        self.close_calls = 0

    def memory_bytes(self) -> int:
        return self.size

    def close(self) -> None:
        self.close_calls += 1


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def key(name: str, key_id: str = "plaintext", digest: str = "d0") -> CacheKey:
    return CacheKey(f"home/vector-databases/0xabc/{name}/manifest.json", key_id, digest)


def ready(value: FakeIndex) -> Callable[[Callable[[str], None]], Awaitable[FakeIndex]]:
    """A loader that returns ``value`` at once."""

    async def load(publish: Callable[[str], None]) -> FakeIndex:
        return value

    return load


def make_cache(
    max_entries: int = 10,
    max_bytes: int = 1000,
    ttl_s: float = 100.0,
    on_hit: Callable[[], None] | None = None,
    on_miss: Callable[[], None] | None = None,
) -> tuple[IndexCache[FakeIndex, str], FakeClock]:
    """A cache of FakeIndex values with string progress events, on a FakeClock."""
    clock = FakeClock()
    cache: IndexCache[FakeIndex, str] = IndexCache(
        max_entries=max_entries,
        max_bytes=max_bytes,
        ttl_s=ttl_s,
        timer=clock,
        on_hit=on_hit,
        on_miss=on_miss,
    )
    return cache, clock


class FakeLoader:
    """Loads a fresh FakeIndex of ``size`` on each call and counts the calls."""

    def __init__(self, size: int = 10) -> None:
        self.size = size
        self.calls = 0
        self.values: list[FakeIndex] = []

    async def __call__(self, publish: Callable[[str], None]) -> FakeIndex:
        self.calls += 1
        value = FakeIndex(self.size, name=f"load{self.calls}")
        self.values.append(value)
        return value


class FakeGatedLoader(FakeLoader):
    """Publishes "started", then waits for ``gate``; records cancellation; may fail."""

    def __init__(self, size: int = 10, error: BaseException | None = None) -> None:
        super().__init__(size)
        self.error = error
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.publish: Callable[[str], None] = lambda event: None

    async def __call__(self, publish: Callable[[str], None]) -> FakeIndex:
        self.publish = publish
        publish("started")
        self.started.set()
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        if self.error is not None:
            self.calls += 1
            raise self.error
        return await super().__call__(publish)
