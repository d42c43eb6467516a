"""One in-flight load shared by every caller of the same key, with replayable progress."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

import structlog

from s5vec.cache.lease import Entry, V

log = structlog.get_logger(__name__)

E = TypeVar("E")

Publish = Callable[[E], None]
"""What a loader calls with each progress event."""


class Flight(Generic[V, E]):
    """A shared load: its task, its waiters, and every progress event so far."""

    def __init__(self) -> None:
        self.events: list[E] = []
        self.waiters = 0
        self.task: asyncio.Task[Entry[V]] | None = None
        self.hold: Entry[V] | None = None
        """The loaded entry, retained for the waiters until the last one has its lease."""
        self._subscribers: list[Publish[E]] = []

    def publish(self, event: E) -> None:
        """Record ``event`` for late joiners and hand it to every current subscriber."""
        self.events.append(event)
        for callback in list(self._subscribers):
            _deliver(callback, event)

    def subscribe(self, callback: Publish[E]) -> None:
        """Replay the events so far to ``callback``, then send it each new one."""
        for event in list(self.events):
            _deliver(callback, event)
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Publish[E]) -> None:
        """Stop sending events to ``callback``."""
        self._subscribers.remove(callback)

    def release_hold(self) -> None:
        """Give up the waiters' hold on the loaded entry, if one was taken."""
        entry, self.hold = self.hold, None
        if entry is not None:
            entry.release()


def _deliver(callback: Publish[E], event: E) -> None:
    try:
        callback(event)
    except Exception:
        # One session's broken callback must not fail the load shared with others.
        log.exception("cache_progress_callback_failed")
