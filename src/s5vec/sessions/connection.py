"""One WebSocket connection: dispatch of decoded frames, and the session it holds.

Dispatch is on ``type``: ``session_init``, ``encrypted_session_init``, ``uploadVectors``,
``searchVectors``. A message that is not an object, or whose ``type`` is missing or not a
string, is ``INVALID_MESSAGE``; a string ``type`` we do not know is ``UNKNOWN_MESSAGE_TYPE``.
Every reply goes through ``send`` and echoes the message's ``id`` when it has one.

One connection holds one session. Before any init it holds an implicit one (no id, no
database) so uploads and searches work without the S5 flow. A valid init replaces the
current session: the old load ends with ``loading_error`` ``CANCELLED`` under the old id,
sent before the new ack; old uploads and lease are released. The new session starts empty
(uploads made before it are not carried over). A failed init changes nothing.

A handler failing unexpectedly replies ``INTERNAL_ERROR`` quoting a trace id that is logged
with the traceback and the session id; the connection keeps working. Log lines never carry
a key, decrypted content (the database path of an encrypted init included) or vectors.

``handle`` is meant to be awaited one message at a time per connection (the server's read
loop); inits and ``close`` are serialised anyway, so a late message cannot revive a closed
connection.
"""

from __future__ import annotations

import asyncio
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog

from s5vec.errors import InternalError, InvalidMessage, S5VecError, UnknownMessageType
from s5vec.sessions import frames
from s5vec.sessions.handshake import OpenedInit, open_encrypted, open_plain
from s5vec.sessions.messages import MAX_ECHO_DEPTH, ReplyContext
from s5vec.sessions.services import Services
from s5vec.sessions.session import Session
from s5vec.sessions.vectors import search, upload

SendFrame = Callable[[dict[str, Any]], Awaitable[None]]


class Connection:
    """The handlers of one WebSocket; create it with ``SessionHub.connect``."""

    def __init__(
        self,
        send: SendFrame,
        services: Services,
        on_session_opened: Callable[[Connection], None],
        on_closed: Callable[[Connection], None],
    ) -> None:
        self.connection_id = uuid.uuid4().hex[:12]
        self._transport = send
        self._services = services
        self._on_session_opened = on_session_opened
        self._on_closed = on_closed
        self._session = Session(None, services, wants_database=False)
        self._lock = asyncio.Lock()  # inits and close
        self._closed = False
        self._send_failed = False

    @property
    def session_id(self) -> str | None:
        """The current session's id (None before the first valid init)."""
        return self._session.session_id

    @property
    def status(self) -> dict[str, Any]:
        """The current session's load status (``{"state", ...}``, SPEC section 3)."""
        return self._session.status.to_dict()

    async def handle(self, message: dict[str, Any]) -> None:
        """Handle one JSON-decoded client frame; every reply goes through ``send``."""
        if self._closed:
            return
        if not isinstance(message, Mapping):
            await self._send(
                frames.error(ReplyContext.of({}), InvalidMessage.code, "A message is an object")
            )
            return
        ctx = ReplyContext.of(message)
        with structlog.contextvars.bound_contextvars(
            connection_id=self.connection_id, session_id=self.session_id
        ):
            try:
                if ctx.unechoable is not None:
                    raise InvalidMessage(
                        f"{ctx.unechoable} nests more than {MAX_ECHO_DEPTH} levels deep"
                    )
                await self._dispatch(message, ctx)
            except S5VecError as exc:
                wire = exc.to_wire()
                await self._send(frames.error(ctx, wire["code"], wire["message"]))
            except Exception as exc:
                internal = InternalError()
                self._services.log.error(
                    "message_handler_failed",
                    message_type=ctx.type,
                    session_id=self.session_id,
                    connection_id=self.connection_id,
                    trace_id=internal.trace_id,
                    # Plain text, as ``format_exc_info`` would make it: a renderer given the
                    # exception itself may print frame locals (messages, vectors).
                    exception="".join(traceback.format_exception(exc)),
                )
                await self._send(frames.error(ctx, internal.code, internal.message))

    async def _dispatch(self, message: Mapping[str, Any], ctx: ReplyContext) -> None:
        kind = message.get("type")
        if kind == "session_init":
            await self._init(ctx, lambda: open_plain(message))
        elif kind == "encrypted_session_init":
            config = self._services.config
            await self._init(
                ctx,
                lambda: open_encrypted(
                    message,
                    self._services.host_key,
                    require_signer_match=config.require_signer_match,
                ),
            )
        elif kind == "uploadVectors":
            await self._send(await upload(self._session, message, ctx, self._services))
        elif kind == "searchVectors":
            await self._send(await search(self._session, message, ctx, self._services))
        elif isinstance(kind, str):
            raise UnknownMessageType(f"Unknown message type {kind[:64]!r}")
        else:
            raise InvalidMessage("A message needs a string 'type'")

    async def _init(self, ctx: ReplyContext, open_init: Callable[[], OpenedInit]) -> None:
        """Validate an init, then replace the current session, ack, and start the load."""
        opened = open_init()  # raises the init's error: nothing changed
        async with self._lock:
            if self._closed:
                return
            old = self._session
            await old.end(self._send if old.session_id is not None else None)
            session = Session(
                opened.session_id, self._services, wants_database=opened.load is not None
            )
            self._session = session
            if old.session_id is None:
                self._on_session_opened(self)
            await self._send(
                frames.ack(
                    ctx,
                    opened.session_id,
                    opened.job_id,
                    opened.chain_id,
                    _ack_message(opened),
                    opened.client_address,
                )
            )
            acked_at = self._services.clock()  # load_time_ms / duration_ms count from here
            self._services.log.info(
                "session_started",
                session_id=opened.session_id,
                connection_id=self.connection_id,
                encrypted=opened.client_address is not None,
                database=opened.load is not None,
                replaced=old.session_id,
            )
            if opened.load is not None:
                session.start_load(opened.load, self._send, acked_at)

    async def close(self) -> None:
        """Disconnect: cancel the load (nothing is sent), release the lease, free uploads."""
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                await self._session.end(None)
            finally:
                self._on_closed(self)

    async def _send(self, frame: frames.Frame) -> None:
        """Hand ``frame`` to the transport; a closed socket is logged once, not raised
        (the server notices the disconnect and calls ``close``)."""
        try:
            await self._transport(frame)
        except Exception as exc:
            if not self._send_failed:
                self._send_failed = True
                self._services.log.warning(
                    "send_failed",
                    session_id=self.session_id,
                    connection_id=self.connection_id,
                    error=type(exc).__name__,
                )


def _ack_message(opened: OpenedInit) -> str:
    if opened.load is None:
        return "Session initialized"
    return "Session initialized; loading the vector database in the background"
