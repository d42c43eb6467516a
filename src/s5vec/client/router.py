"""Routes incoming frames: replies to the request waiting for them, progress to the load.

The client's single reader task calls ``FrameRouter.dispatch`` for every text frame, so
progress frames may arrive between a request and its reply without disturbing either.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from s5vec.client.failures import PROTOCOL_ERROR, ClientError, remote_error
from s5vec.client.frames import (
    LOADING_ERROR,
    REPLY_TYPES,
    ErrorFrame,
    LoadingProgress,
    ProgressFrame,
    Reply,
    SessionAck,
    reply_key,
)

logger = logging.getLogger(__name__)

Outcome = Reply | ClientError


class LoadState:
    """The progress events of one session's load, replayable by any number of readers."""

    def __init__(self, session_id: str, requested: bool, *, replaces_running: bool = False) -> None:
        self.session_id = session_id
        self.requested = requested
        self.events: list[LoadingProgress] = []
        self.end: LoadingProgress | ClientError | None = None
        # A re-init under the same session id: until the ack, the replaced load's last
        # frames (its CANCELLED, SPEC 2.3) carry this id too and must not count here.
        self._skip_old_final = replaces_running
        self._changed = asyncio.Event()

    def acknowledge(self) -> None:
        """The host acked this session: every later frame with its id is its own."""
        self._skip_old_final = False

    def push(self, event: LoadingProgress) -> None:
        """Record one event; a final one ends the load. Events after the end are dropped."""
        if self._skip_old_final:
            self._skip_old_final = not event.is_final
            return
        if self.end is not None:
            return
        self.events.append(event)
        if event.is_final:
            self.end = event
        self._notify()

    def fail(self, error: ClientError) -> None:
        """End the load without a final event (connection lost, session replaced)."""
        if self.end is None:
            self.end = error
            self._notify()

    def _notify(self) -> None:
        # A fresh Event per change lets waiters use plain wait() without a lock.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def changed(self) -> None:
        """Wait for the next event or the end."""
        await self._changed.wait()

    async def iterate(self) -> AsyncIterator[LoadingProgress]:
        """Every event from the first, the final one included; raise if the load was cut off."""
        index = 0
        while True:
            while index < len(self.events):
                index += 1
                yield self.events[index - 1]
            if isinstance(self.end, ClientError):
                raise self.end
            if self.end is not None:
                return
            await self.changed()

    def outcome(self) -> LoadingProgress:
        """The ``loading_complete`` payload; raise its ClientError for any other end."""
        end = self.end
        if isinstance(end, ClientError):
            raise end
        if end is None:
            raise RuntimeError("the load has not ended yet")
        if end.event == LOADING_ERROR:
            raise remote_error(
                end.error_code or "INTERNAL_ERROR",
                end.error or end.message or "Loading failed",
                session_id=self.session_id,
            )
        return end


class FrameRouter:
    """Pending requests by id, the current load, and the dispatch of every incoming frame."""

    def __init__(self) -> None:
        # Insertion-ordered: an error naming no request answers the oldest one.
        self._pending: dict[str, asyncio.Future[Outcome]] = {}
        self._closed: ClientError | None = None
        self.load: LoadState | None = None

    @property
    def closed(self) -> ClientError | None:
        """Why the connection ended, once it has."""
        return self._closed

    def expect(self, key: str) -> asyncio.Future[Outcome]:
        """Register a request id before its frame is sent; the future gets its reply."""
        if self._closed is not None:
            raise self._closed
        if key in self._pending:
            raise ValueError(f"request id {key!r} is already waiting")
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        return future

    def forget(self, key: str) -> None:
        """Drop a request that was answered, timed out or cancelled."""
        self._pending.pop(key, None)

    def start_load(self, session_id: str, requested: bool) -> LoadState:
        """Begin tracking a new session; a replaced session's readers end with CANCELLED."""
        old = self.load
        replaces_running = (
            old is not None and old.session_id == session_id and old.requested and old.end is None
        )
        if self.load is not None:
            self.load.fail(
                remote_error(
                    "CANCELLED",
                    "Replaced by a new session init on this connection",
                    session_id=self.load.session_id,
                )
            )
        self.load = LoadState(session_id, requested, replaces_running=replaces_running)
        return self.load

    def close(self, error: ClientError) -> None:
        """Fail every waiting request and the current load with ``error``."""
        if self._closed is None:
            self._closed = error
        for future in self._pending.values():
            if not future.done():
                future.set_result(error)
        self._pending.clear()
        if self.load is not None:
            self.load.fail(error)

    def dispatch(self, text: str | bytes) -> None:
        """Handle one frame from the host; frames that fit nowhere are logged and dropped."""
        try:
            frame = msgspec.json.decode(text)
        except msgspec.DecodeError:
            logger.warning("dropping a frame from the host that is not JSON")
            return
        if not isinstance(frame, dict):
            logger.warning("dropping a frame from the host that is not a JSON object")
            return
        kind = frame.get("type")
        if kind == "vector_loading_progress":
            self._progress(frame)
        elif isinstance(kind, str) and kind in REPLY_TYPES:
            self._reply(kind, frame)
        else:
            # `connected`, and frame types added after this client was written.
            logger.debug("ignoring a %r frame", kind)

    def _progress(self, frame: dict[str, Any]) -> None:
        try:
            progress = msgspec.convert(frame, type=ProgressFrame)
        except msgspec.ValidationError as exc:
            logger.warning("dropping a malformed progress frame: %s", exc)
            return
        load = self.load
        # Frames of a replaced session (its CANCELLED) are not this session's progress.
        if load is not None and progress.session_id == load.session_id:
            load.push(progress.payload)

    def _reply(self, kind: str, frame: dict[str, Any]) -> None:
        key = reply_key(frame)
        future = self._pending.get(key) if key is not None else None
        if future is None and key is None and kind == "error" and self._pending:
            # The host could not read the request far enough to echo its id.
            key, future = next(iter(self._pending.items()))
        if future is None or key is None:
            logger.debug("ignoring a %s frame that answers no waiting request", kind)
            return
        self.forget(key)
        if future.done():
            return
        outcome = self._decode_reply(kind, frame, key)
        load = self.load
        if isinstance(outcome, SessionAck) and load and load.session_id == outcome.session_id:
            # Before any frame after the ack is dispatched: those belong to the new load.
            load.acknowledge()
        future.set_result(outcome)

    @staticmethod
    def _decode_reply(kind: str, frame: dict[str, Any], key: str) -> Outcome:
        try:
            reply = msgspec.convert(frame, type=REPLY_TYPES[kind])
        except msgspec.ValidationError as exc:
            return ClientError(PROTOCOL_ERROR, f"malformed {kind} frame: {exc}", request_id=key)
        if isinstance(reply, ErrorFrame):
            return remote_error(
                reply.code, reply.message, request_id=key, session_id=reply.session_id
            )
        return reply
