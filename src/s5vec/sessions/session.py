"""One session of a connection: its background load, load status and uploaded vectors.

A session is created by a valid init (or implicitly, without an id, for a connection that
uploads or searches before any init). When the init names a database, the load runs in a
task of its own, started after the ack; its progress goes to this session's connection
only, as ``vector_loading_progress`` frames under this session's id, and ends with exactly
one ``loading_complete`` or ``loading_error``. Ending the session (a second init or a
disconnect) cancels the load, reports ``CANCELLED`` if asked and the load had not ended,
releases the index lease and frees the uploads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from s5vec.errors import Cancelled, S5VecError, VectorsLoading, VectorsNotLoaded
from s5vec.index import DatabaseIndex, UploadedVectors
from s5vec.loader import LoadHandle, LoadRequest, LoadState, LoadStatus, ProgressEvent
from s5vec.loader.events import loading_error
from s5vec.sessions import frames
from s5vec.sessions.services import Services

Send = Callable[[frames.Frame], Awaitable[None]]
_TERMINAL = frozenset({"loading_complete", "loading_error"})


class LoadFailed(S5VecError):
    """A search on a session whose load failed: the reply carries the load's own code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.wire_code = code

    def to_wire(self) -> dict[str, str]:
        """The failed load's ``code`` / ``message``."""
        return {"code": self.wire_code, "message": self.message}


class Session:
    """State of one session; used from the event loop only (uploads are thread-safe)."""

    def __init__(self, session_id: str | None, services: Services, *, wants_database: bool) -> None:
        self.session_id = session_id
        self.wants_database = wants_database  # searches then need the database loaded
        self.status = LoadStatus()
        self.uploads = UploadedVectors(services.config.max_uploaded_vectors)
        self._services = services
        self._task: asyncio.Task[None] | None = None
        self._handle: LoadHandle[DatabaseIndex] | None = None
        self._terminal_sent = False
        self._ended = False

    def start_load(self, request: LoadRequest, send: Send, acked_at: float) -> None:
        """Start loading ``request`` in the background; ``acked_at`` is the ack's time."""
        assert self.session_id is not None
        assert self._task is None
        self._task = asyncio.create_task(
            self._load(self.session_id, request, send, acked_at), name="s5vec-session-load"
        )

    async def _load(self, session_id: str, request: LoadRequest, send: Send, acked: float) -> None:
        # This task's context is its own copy: bind the new id for the loader's lines too.
        structlog.contextvars.bind_contextvars(session_id=session_id)

        async def on_progress(event: ProgressEvent) -> None:
            if event.get("event") in _TERMINAL:
                # Marked before sending: a cancel during the send must not add a CANCELLED.
                self._terminal_sent = True
            await send(frames.progress(session_id, event))

        log = self._services.log
        try:
            handle = await self._services.loader.load(
                request, on_progress, status=self.status, started_at=acked
            )
        except S5VecError as exc:
            log.info("vector_load_failed", session_id=session_id, code=exc.code)
            return
        if self._ended:  # a lower layer swallowed end()'s cancel: nobody else will release it
            handle.release()
            return
        self._handle = handle
        log.info(
            "vector_load_complete",
            session_id=session_id,
            vector_count=handle.vector_count,
            load_time_ms=handle.load_time_ms,
            source=handle.source,
        )

    async def loaded_database(self) -> DatabaseIndex | None:
        """The loaded database index, or None; never None once ``loading_complete`` was sent."""
        task = self._task
        if task is not None and self._handle is None and self.status.state is LoadState.LOADED:
            # Searchable and ``loading_complete`` sent; the load task is only handing over
            # the lease (the loader returns after delivering its last event).
            await asyncio.wait({task})
        return self._handle.index if self._handle is not None else None

    async def searchable_database(self) -> DatabaseIndex | None:
        """The database a search must include: None when the init named none.

        Raises at once, never waiting for a load: VectorsLoading while it runs, the load's
        own error once it failed, VectorsNotLoaded when it has not started or was ended.
        """
        if not self.wants_database:
            return None
        index = await self.loaded_database()
        if index is not None:
            return index
        task = self._task
        if self.status.state is LoadState.ERROR and self.status.error_code != Cancelled.code:
            raise LoadFailed(self.status.error_code or "", self.status.error_message or "")
        if task is not None and not task.done():
            raise VectorsLoading()
        if task is None:  # the init is still being acknowledged
            raise VectorsNotLoaded("The vector database has not started loading yet")
        raise VectorsNotLoaded()

    async def end(self, send: Send | None) -> None:
        """Cancel the load, release the lease and drop the uploads (idempotent).

        With ``send`` (a second init on a live connection), a load that had not ended
        reports ``loading_error`` ``CANCELLED`` under this session's id; a disconnect passes
        None and nothing is sent.
        """
        self._ended = True
        task = self._task
        try:
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait({task})
            if send is not None and task is not None and not self._terminal_sent:
                self._terminal_sent = True
                assert self.session_id is not None
                await send(frames.progress(self.session_id, loading_error(Cancelled())))
        finally:
            handle, self._handle = self._handle, None
            if handle is not None:
                handle.release()
            self.uploads.clear()
