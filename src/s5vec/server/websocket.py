"""``GET /v1/ws``: admission (origin, connection cap), frame decoding and in-order dispatch.

Each socket has two tasks. The request's own task reads frames (answering pings as it goes),
decodes them and queues them; a worker task hands them to the session's ``Connection`` one at
a time, in arrival order. So a handler that takes a while never stops the socket from being
read, and replies keep the order of the requests. Loads run in the session layer's own
background tasks, which is why a search is answered while its database loads. The inbox is
bounded: a client that sends faster than its frames are handled is slowed down by TCP
back-pressure instead of growing the host's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
import structlog
from aiohttp import WSCloseCode, WSMsgType, hdrs, web

from s5vec.errors import InternalError, InvalidMessage, S5VecError
from s5vec.server.services import Services
from s5vec.sessions import Connection

log = structlog.get_logger(__name__)

HARD_CAP_FACTOR = 4
"""aiohttp closes with 1009 above this multiple of the frame limit; below it we answer."""
INBOX_SIZE = 8
THREAD_DECODE_BYTES = 1 << 20
"""Frames at least this large are decoded off the event loop (tens of ms for MBs of JSON)."""
CLOSE_TIMEOUT_S = 5.0
CONNECTED_MESSAGE = "Connected to s5vec; send session_init or encrypted_session_init"

Item = dict[str, Any] | S5VecError
"""A decoded frame, or the error to answer instead."""


def refusal(services: Services, request: web.Request) -> web.Response | None:
    """The HTTP answer refusing this upgrade (403 origin, 503 full or draining), or None."""
    settings = services.settings
    origin = request.headers.get(hdrs.ORIGIN)
    allowed = settings.s5vec_allowed_origins
    if origin is not None and allowed and origin.strip().rstrip("/").lower() not in allowed:
        return web.json_response({"error": "origin not allowed"}, status=403)
    if services.draining:
        return web.json_response({"error": "server is shutting down"}, status=503)
    if len(services.sockets) >= settings.s5vec_max_connections:
        return web.json_response({"error": "too many connections"}, status=503)
    return None


async def handle_socket(services: Services, request: web.Request) -> web.StreamResponse:
    """Accept the upgrade, then serve the socket until either side closes it."""
    refused = refusal(services, request)
    if refused is not None:
        return refused
    ws = web.WebSocketResponse(
        # aiohttp refuses a frame whose size equals max_msg_size: +1 keeps 4x answered.
        max_msg_size=HARD_CAP_FACTOR * services.settings.max_frame_bytes + 1,
        decode_text=False,  # bytes: exact size check, and orjson validates the UTF-8
        timeout=CLOSE_TIMEOUT_S,
    )
    # Counted before the first await, so concurrent upgrades cannot overshoot the cap.
    services.sockets.add(ws)
    try:
        await ws.prepare(request)
        await _serve(services, ws)
    finally:
        services.sockets.discard(ws)
    return ws


async def _serve(services: Services, ws: web.WebSocketResponse) -> None:
    sender = Sender(ws)
    await sender.send({"type": "connected", "message": CONNECTED_MESSAGE})
    connection = services.hub.connect(sender.send)
    # The worker task copies this context: its lines carry the connection id too.
    with structlog.contextvars.bound_contextvars(connection_id=connection.connection_id):
        inbox: asyncio.Queue[Item] = asyncio.Queue(INBOX_SIZE)
        worker = asyncio.create_task(_work(inbox, connection, sender), name="s5vec-ws-worker")
        log.info("socket_opened")
        try:
            await _read(services, ws, inbox)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            await connection.close()
            await ws.close()
            log.info("socket_closed", code=ws.close_code)


async def _read(services: Services, ws: web.WebSocketResponse, inbox: asyncio.Queue[Item]) -> None:
    """Read frames until the socket closes or stays silent for the idle timeout."""
    settings = services.settings
    while True:
        try:
            message = await ws.receive(timeout=settings.s5vec_idle_timeout_seconds)
        except TimeoutError:
            log.info("socket_idle_timeout", idle_seconds=settings.s5vec_idle_timeout_seconds)
            await ws.close(code=WSCloseCode.OK, message=b"idle timeout")
            return
        if message.type is WSMsgType.TEXT:
            item = await decode_frame(message.data, settings.max_frame_bytes)
        elif message.type is WSMsgType.BINARY:
            item = InvalidMessage("Binary frames are not supported: send JSON text frames")
        elif message.type is WSMsgType.ERROR:
            log.info("socket_error", error=type(message.data).__name__)
            return
        else:  # CLOSE, CLOSING, CLOSED
            return
        await inbox.put(item)


async def decode_frame(data: bytes, limit: int) -> Item:
    """The JSON object in ``data``, or the ``INVALID_MESSAGE`` error to answer."""
    if len(data) > limit:
        return InvalidMessage(f"Frame too large: the limit is {limit // (1024 * 1024)} MB")
    try:
        if len(data) >= THREAD_DECODE_BYTES:
            value = await asyncio.to_thread(orjson.loads, data)
        else:
            value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return InvalidMessage("Frame is not valid JSON")
    if not isinstance(value, dict):
        return InvalidMessage("Frame must be a JSON object")
    return value


async def _work(inbox: asyncio.Queue[Item], connection: Connection, sender: Sender) -> None:
    """Hand queued frames to the session one at a time, in arrival order."""
    while True:
        item = await inbox.get()
        if isinstance(item, S5VecError):
            await sender.send({"type": "error", **item.to_wire()})
            continue
        try:
            await connection.handle(item)
        except Exception:
            internal = InternalError("The message could not be handled")
            log.exception("message_handler_failed", trace_id=internal.trace_id)
            frame: dict[str, Any] = {"type": "error", **internal.to_wire()}
            if "id" in item:
                frame["id"] = item["id"]
            await sender.send(frame)


class Sender:
    """Writes frames as JSON text to one socket; frames for a closed socket are dropped."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws

    async def send(self, frame: dict[str, Any]) -> None:
        """Send ``frame``; a no-op once the socket is closing (the reader ends the session)."""
        if self._ws.closed:
            return
        data = orjson.dumps(frame, option=orjson.OPT_SERIALIZE_NUMPY)
        with contextlib.suppress(ConnectionError):
            await self._ws.send_frame(data, WSMsgType.TEXT)
