"""``FakeHostServer``: a scripted stand-in for the s5vec host, for client tests only.

A real aiohttp server on 127.0.0.1 that speaks SPEC sections 1-4 from a script. It checks
the exact shape of every frame the client sends (unknown or wrongly cased fields are
recorded in ``violations`` and answered with ``INVALID_MESSAGE``), opens encrypted inits
with a real ``HostKey``, and interleaves progress frames with its replies. It does not
load or search anything: search results come from the script.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from aiohttp import WSMsgType, web

from s5vec.crypto.envelope import SessionInit, open_session_init
from s5vec.crypto.secp256k1 import HostKey
from s5vec.errors import S5VecError

# --- The frame shapes SPEC sections 2 and 4 prescribe (unknown fields are violations) ----


class _Database(msgspec.Struct, forbid_unknown_fields=True):
    manifest_path: str
    user_address: str


class _PlainInit(msgspec.Struct, forbid_unknown_fields=True):
    type: str
    session_id: str
    id: str
    job_id: int | str = 0
    chain_id: int | str = 0
    vector_database: _Database | None = None


class _Payload(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    eph_pub_hex: str
    ciphertext_hex: str
    nonce_hex: str
    signature_hex: str
    aad_hex: str


class _EncryptedInit(msgspec.Struct, forbid_unknown_fields=True):
    type: str
    session_id: str
    id: str
    payload: _Payload
    chain_id: int | str = 0


class _Vector(msgspec.Struct, forbid_unknown_fields=True):
    id: str | int
    vector: list[float]
    metadata: dict[str, Any]


class _Upload(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    type: str
    request_id: str
    replace: bool
    vectors: list[_Vector]


class _Search(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    type: str
    request_id: str
    query_vector: list[float]
    k: int
    # No None: an absent threshold or filter must be left out, not sent as null.
    threshold: float = 0.0
    metadata_filter: dict[str, Any] = msgspec.field(default_factory=dict)


_SHAPES: dict[str, type[msgspec.Struct]] = {
    "session_init": _PlainInit,
    "encrypted_session_init": _EncryptedInit,
    "uploadVectors": _Upload,
    "searchVectors": _Search,
}


@dataclass(frozen=True)
class Refusal:
    """An error frame the fake answers a message type with; ``echo`` false drops the ids."""

    code: str
    message: str
    echo: bool = True


@dataclass
class FakeHostServer:
    """The script, and what the fake saw. ``url`` is the WebSocket URL once started."""

    host_key: HostKey = field(default_factory=HostKey.generate)
    load_events: list[dict[str, Any]] = field(default_factory=list)
    emit: Literal["after_ack", "before_replies"] = "after_ack"
    events_per_reply: int = 1
    refuse: dict[str, Refusal] = field(default_factory=dict)
    search_results: list[dict[str, Any]] = field(default_factory=list)
    reject_ids: set[str | int] = field(default_factory=set)
    silent_on: set[str] = field(default_factory=set)
    drop_on: set[str] = field(default_factory=set)
    reverse_searches: int = 0
    omit_client_address: bool = False
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    opened: list[SessionInit] = field(default_factory=list)

    def frames(self, kind: str) -> list[dict[str, Any]]:
        """Every received frame of type ``kind``, in order."""
        return [frame for frame in self.received if frame.get("type") == kind]

    async def host_key_route(self, request: web.Request) -> web.Response:
        """``GET /v1/host-key``."""
        return web.json_response({"publicKey": self.host_key.public_key_compressed_hex})

    async def ws_route(self, request: web.Request) -> web.WebSocketResponse:
        """``GET /v1/ws``: greet, then answer each frame from the script."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        connection = _Connection(self, ws)
        await connection.send({"type": "connected", "message": "fake s5vec host"})
        # A frame type the client has never heard of: it must be skipped.
        await connection.send({"type": "host_notice", "message": "hello"})
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                continue
            frame = msgspec.json.decode(message.data)
            self.received.append(frame)
            if frame.get("type") in self.drop_on:
                await ws.close()
                break
            await connection.handle(frame)
        return ws


class _Connection:
    """One socket's session state: the pending progress events and held searches."""

    def __init__(self, server: FakeHostServer, ws: web.WebSocketResponse) -> None:
        self.server = server
        self.ws = ws
        self.session_id: str | None = None
        self.pending_events: deque[dict[str, Any]] = deque()
        self.held_searches: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any]) -> None:
        self.server.sent.append(frame)
        await self.ws.send_str(msgspec.json.encode(frame).decode())

    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        script = self.server
        if not isinstance(kind, str) or kind not in _SHAPES:
            await self.error(frame, Refusal("UNKNOWN_MESSAGE_TYPE", f"unknown type {kind!r}"))
            return
        try:
            msgspec.convert(frame, type=_SHAPES[kind])
        except msgspec.ValidationError as exc:
            script.violations.append(f"{kind}: {exc}")
            await self.error(frame, Refusal("INVALID_MESSAGE", str(exc)))
            return
        if kind == "uploadVectors" and len(frame["vectors"]) > 1000:
            script.violations.append(f"uploadVectors with {len(frame['vectors'])} vectors")
            await self.error(frame, Refusal("INVALID_MESSAGE", "more than 1000 vectors"))
            return
        if kind in script.silent_on:
            return
        if kind in script.refuse:
            await self.error(frame, script.refuse[kind])
            return
        if kind == "session_init":
            await self.init(frame, frame.get("vector_database") is not None, None)
        elif kind == "encrypted_session_init":
            await self.encrypted_init(frame)
        elif kind == "uploadVectors":
            await self.reply(self.upload_response(frame))
        else:
            await self.search(frame)

    async def error(self, frame: dict[str, Any], refusal: Refusal) -> None:
        reply: dict[str, Any] = {"type": "error", "code": refusal.code, "message": refusal.message}
        if refusal.echo:
            for name in ("session_id", "id", "requestId"):
                if name in frame:
                    reply[name] = frame[name]
        await self.send(reply)

    async def encrypted_init(self, frame: dict[str, Any]) -> None:
        try:
            opened = open_session_init(frame["payload"], self.server.host_key)
        except S5VecError as exc:
            await self.error(frame, Refusal(exc.code, exc.message))
            return
        self.server.opened.append(opened)
        await self.init(frame, opened.vector_database is not None, opened)

    async def init(
        self, frame: dict[str, Any], requested: bool, opened: SessionInit | None
    ) -> None:
        if self.session_id is not None and self.pending_events:
            # SPEC 2.3: the replaced load ends with CANCELLED, sent before the new ack.
            await self.progress(
                self.session_id,
                {"event": "loading_error", "error_code": "CANCELLED", "error": "replaced"},
            )
        self.session_id = frame["session_id"]
        ack: dict[str, Any] = {
            "type": "session_init_ack",
            "status": "success",
            "session_id": frame["session_id"],
            "job_id": opened.job_id if opened else frame.get("job_id"),
            "chain_id": frame.get("chain_id"),
            "message": "Session initialised",
            "id": frame["id"],
        }
        if opened is not None and not self.server.omit_client_address:
            ack["client_address"] = opened.client_address
        await self.send(ack)
        self.pending_events = deque(self.server.load_events if requested else [])
        if self.server.emit == "after_ack":
            await self.flush_events(len(self.pending_events))

    async def progress(self, session_id: str, payload: dict[str, Any]) -> None:
        await self.send(
            {"type": "vector_loading_progress", "session_id": session_id, "payload": payload}
        )

    async def flush_events(self, count: int) -> None:
        for _ in range(min(count, len(self.pending_events))):
            assert self.session_id is not None
            await self.progress(self.session_id, self.pending_events.popleft())

    async def reply(self, frame: dict[str, Any]) -> None:
        if self.server.emit == "before_replies":
            await self.flush_events(self.server.events_per_reply)
        await self.send(frame)

    def upload_response(self, frame: dict[str, Any]) -> dict[str, Any]:
        errors = [
            {"index": index, "id": vector["id"], "code": "INVALID_VECTOR", "message": "rejected"}
            for index, vector in enumerate(frame["vectors"])
            if vector["id"] in self.server.reject_ids
        ]
        uploaded = len(frame["vectors"]) - len(errors)
        status = "success" if not errors else "partial" if uploaded else "error"
        return {
            "type": "uploadVectorsResponse",
            "requestId": frame["requestId"],
            "status": status,
            "uploaded": uploaded,
            "rejected": len(errors),
            "errors": errors,
        }

    async def search(self, frame: dict[str, Any]) -> None:
        self.held_searches.append(frame)
        if len(self.held_searches) < self.server.reverse_searches:
            return
        held, self.held_searches = self.held_searches, []
        for search in reversed(held):
            await self.reply(
                {
                    "type": "searchVectorsResponse",
                    "requestId": search["requestId"],
                    "results": self.server.search_results[: search["k"]],
                    "totalVectors": len(self.server.search_results),
                    "searchTimeMs": 0.25,
                }
            )


@asynccontextmanager
async def fake_host(**script: Any) -> AsyncIterator[FakeHostServer]:
    """Start a ``FakeHostServer`` with ``script`` on a free 127.0.0.1 port for the block."""
    server = FakeHostServer(**script)
    app = web.Application()
    app.router.add_get("/v1/ws", server.ws_route)
    app.router.add_get("/v1/host-key", server.host_key_route)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server.url = f"ws://127.0.0.1:{runner.addresses[0][1]}/v1/ws"
    try:
        yield server
    finally:
        await runner.cleanup()
