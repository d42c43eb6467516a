"""Test doubles for loader tests: a fake index, a recording observer, a GET-counting wrapper."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from s5vec.index import DatabaseIndex, IndexConfig
from s5vec.loader import Outcome, ProgressEvent
from s5vec.storage.base import Storage


class TrackedIndex(DatabaseIndex):
    """The real database index (f32, exact search), recording whether it was closed."""

    def __init__(self, dimensions: int | None, expected_vectors: int) -> None:
        super().__init__(
            dimensions, IndexConfig(quantization="f32"), expected_vectors=expected_vectors
        )
        self.closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


class BrokenIndex(TrackedIndex):
    """An index whose library fails on the second chunk."""

    def add_chunk(
        self, ids: list[str], vectors: npt.NDArray[np.float32], metadata: list[dict[str, Any]]
    ) -> None:
        if len(self):
            raise RuntimeError("index library failure")
        super().add_chunk(ids, vectors, metadata)


class IndexFactory:
    """Makes real indexes (``TrackedIndex``, or ``kind``) and remembers them."""

    def __init__(self, kind: type[TrackedIndex] = TrackedIndex) -> None:
        self.kind = kind
        self.made: list[TrackedIndex] = []

    def __call__(self, dimensions: int | None, expected_vectors: int) -> TrackedIndex:
        index = self.kind(dimensions, expected_vectors)
        self.made.append(index)
        return index


class RecordingObserver:
    """A LoadObserver that records every call."""

    def __init__(self) -> None:
        self.downloads: list[str | None] = []
        self.vectors = 0
        self.finished_indexes = 0
        self.outcomes: list[Outcome] = []
        self.hits = 0
        self.misses = 0

    def on_download(self, seconds: float, error_code: str | None) -> None:
        self.downloads.append(error_code)

    def on_vectors_loaded(self, count: int) -> None:
        self.vectors += count

    def on_index_finished(self, seconds: float) -> None:
        self.finished_indexes += 1

    def on_load_finished(self, outcome: Outcome, seconds: float) -> None:
        self.outcomes.append(outcome)

    def on_cache_hit(self) -> None:
        self.hits += 1

    def on_cache_miss(self) -> None:
        self.misses += 1


class CountingStorage(Storage):
    """Wraps a real backend and counts GETs per path (to prove what was, or was not, fetched)."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.name = inner.name
        self.remote = inner.remote
        self.gets: Counter[str] = Counter()

    async def get(self, path: str) -> bytes:
        self.gets[path] += 1
        return await self.inner.get(path)

    async def put(self, path: str, data: bytes) -> None:
        await self.inner.put(path, data)

    async def delete(self, path: str) -> None:
        await self.inner.delete(path)

    async def list(self, path: str) -> list[str]:
        return await self.inner.list(path)

    async def exists(self, path: str) -> bool:
        return await self.inner.exists(path)

    async def health(self) -> dict[str, Any]:
        return await self.inner.health()

    async def close(self) -> None:
        await self.inner.close()


class Events:
    """A progress callback that keeps every payload (sync; ``AsyncEvents`` awaits)."""

    def __init__(self) -> None:
        self.items: list[ProgressEvent] = []

    def __call__(self, event: ProgressEvent) -> None:
        self.items.append(event)

    @property
    def names(self) -> list[str]:
        return [item["event"] for item in self.items]

    @property
    def chunks(self) -> list[ProgressEvent]:
        return [item for item in self.items if item["event"] == "chunk_downloaded"]

    @property
    def terminal(self) -> list[ProgressEvent]:
        return [
            item for item in self.items if item["event"] in ("loading_complete", "loading_error")
        ]


class AsyncEvents(Events):
    """An async progress callback."""

    async def __call__(self, event: ProgressEvent) -> None:  # type: ignore[override]
        self.items.append(event)


class GatedStorage(CountingStorage):
    """Counts GETs and can hold GETs of chosen paths until released; records cancellations."""

    def __init__(self, inner: Storage) -> None:
        super().__init__(inner)
        self.gates: dict[str, asyncio.Event] = {}
        self.waiting: set[str] = set()
        self.cancelled: list[str] = []

    def hold(self, path: str) -> asyncio.Event:
        """Hold GETs of ``path`` until the returned event is set."""
        self.gates[path] = asyncio.Event()
        return self.gates[path]

    async def get(self, path: str) -> bytes:
        gate = self.gates.get(path)
        if gate is not None:
            self.gets[path] += 1
            self.waiting.add(path)
            try:
                await gate.wait()
            except asyncio.CancelledError:
                self.cancelled.append(path)
                raise
            finally:
                self.waiting.discard(path)
            return await self.inner.get(path)
        return await super().get(path)


async def until(predicate: Callable[[], bool]) -> None:
    """Let other tasks run until ``predicate`` holds (the test's own timeout bounds it)."""
    while not predicate():  # noqa: ASYNC110 - polls state that several fakes update
        await asyncio.sleep(0.001)
