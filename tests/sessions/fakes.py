"""Test doubles for session tests: a recording ``send``, a gated in-memory store, observers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from s5vec.storage.memory import FakeMemoryStorage


class Recorder:
    """A connection's ``send``: keeps every frame in order."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def __call__(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)

    def of(self, kind: str) -> list[dict[str, Any]]:
        """Frames of ``type`` ``kind``."""
        return [f for f in self.frames if f["type"] == kind]

    def progress(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Progress payloads (of one session, if given), in order."""
        return [
            f["payload"]
            for f in self.of("vector_loading_progress")
            if session_id is None or f["session_id"] == session_id
        ]

    def terminal(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """``loading_complete`` / ``loading_error`` payloads."""
        return [
            p
            for p in self.progress(session_id)
            if p["event"] in ("loading_complete", "loading_error")
        ]

    @property
    def last(self) -> dict[str, Any]:
        """The latest frame."""
        return self.frames[-1]


class GatedMemoryStorage(FakeMemoryStorage):
    """FakeMemoryStorage whose GETs of chosen paths wait until the test opens their gate."""

    def __init__(self, files: Mapping[str, bytes] | None = None) -> None:
        super().__init__(files)
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
            self.waiting.add(path)
            try:
                await gate.wait()
            except asyncio.CancelledError:
                self.cancelled.append(path)
                raise
            finally:
                self.waiting.discard(path)
        return await super().get(path)


class RecordingObserver:
    """A SessionObserver that counts sessions and keeps search durations."""

    def __init__(self) -> None:
        self.active = 0
        self.searches: list[float] = []

    def on_session_opened(self) -> None:
        self.active += 1

    def on_session_closed(self) -> None:
        self.active -= 1

    def on_search(self, seconds: float) -> None:
        self.searches.append(seconds)


class FailingSearchObserver(RecordingObserver):
    """Raises from ``on_search`` once: a stand-in for a bug inside a handler."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next = True

    def on_search(self, seconds: float) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("observer exploded")
        super().on_search(seconds)


async def until(predicate: Callable[[], bool]) -> None:
    """Let other tasks run until ``predicate`` holds (the test's own timeout bounds it)."""
    while not predicate():  # noqa: ASYNC110 - polls state other tasks update
        await asyncio.sleep(0.001)
