"""Test doubles for session tests: a recording ``send``, a gated in-memory store, observers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from s5vec.storage.memory import FakeMemoryStorage
from tests.loader.fakes import GatedStorage


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


def gated_memory_storage(files: Mapping[str, bytes] | None = None) -> GatedStorage:
    """An in-memory fake store whose GETs of chosen paths wait until the test opens their
    gate (``hold``); the fake itself is ``.inner``."""
    return GatedStorage(FakeMemoryStorage(files))


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
