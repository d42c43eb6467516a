"""A raw WebSocket peer for reliability tests: exact frames in, every frame out recorded.

The product's ``S5VecClient`` hides the wire; hostile-input and fault tests need the frames
themselves (to send garbage, and to check that a load ends with exactly one terminal event).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from s5vec.crypto.envelope import seal_session_init
from s5vec.crypto.secp256k1 import public_key_from_private

TERMINAL = frozenset({"loading_complete", "loading_error"})
FRAME_WAIT_S = 30.0
"""Longest wait for one frame: only catches hangs (every expected frame comes much sooner)."""

Frame = dict[str, Any]


def is_terminal(frame: Frame, session_id: str) -> bool:
    """Whether ``frame`` is the final progress event of ``session_id``'s load."""
    return (
        frame.get("type") == "vector_loading_progress"
        and frame.get("session_id") == session_id
        and frame.get("payload", {}).get("event") in TERMINAL
    )


@dataclass
class Peer:
    """One open socket; every frame it received is kept in ``seen``, in order."""

    ws: aiohttp.ClientWebSocketResponse
    seen: list[Frame] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def closed(self) -> bool:
        """Whether the socket is closed."""
        return self.ws.closed

    async def send(self, message: Any) -> None:
        """Send ``message`` as a JSON text frame (any int, any depth Python's encoder takes)."""
        await self.ws.send_str(json.dumps(message, allow_nan=False))

    async def send_text(self, text: str) -> None:
        """Send raw text (not necessarily JSON)."""
        await self.ws.send_str(text)

    async def receive(self, wait_s: float = FRAME_WAIT_S) -> Frame:
        """The next frame (recorded in ``seen``); AssertionError if the socket closed."""
        message = await self.ws.receive(timeout=wait_s)
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"socket ended: {message.type.name} {self.ws.close_code}")
        frame: Frame = orjson.loads(message.data)
        self.seen.append(frame)
        return frame

    async def until(self, done: Callable[[Frame], bool], wait_s: float = FRAME_WAIT_S) -> Frame:
        """The first frame (already seen or new) for which ``done`` holds."""
        for frame in self.seen:
            if done(frame):
                return frame
        while True:
            frame = await self.receive(wait_s)
            if done(frame):
                return frame

    async def request(self, message: Frame, wait_s: float = FRAME_WAIT_S) -> Frame:
        """Send ``message`` with a fresh ``id``; return the frame echoing that id."""
        rid = f"m{next(self._ids)}-{time.monotonic_ns()}"
        await self.send({**message, "id": rid})
        return await self.until(lambda f: f.get("id") == rid, wait_s)

    async def outcome(self, session_id: str, wait_s: float = FRAME_WAIT_S) -> Frame:
        """The payload of ``session_id``'s terminal progress event."""
        frame = await self.until(lambda f: is_terminal(f, session_id), wait_s)
        payload: Frame = frame["payload"]
        return payload

    def terminals(self, session_id: str) -> list[Frame]:
        """Every terminal progress payload seen for ``session_id`` (a load sends exactly one)."""
        return [f["payload"] for f in self.seen if is_terminal(f, session_id)]

    def progress(self, session_id: str) -> list[Frame]:
        """Every progress payload seen for ``session_id``, in order."""
        return [
            f["payload"]
            for f in self.seen
            if f.get("type") == "vector_loading_progress" and f.get("session_id") == session_id
        ]


@asynccontextmanager
async def peer(http: aiohttp.ClientSession, ws_url: str) -> AsyncIterator[Peer]:
    """Open a socket, check the ``connected`` greeting, close it on exit."""
    ws = await http.ws_connect(ws_url, max_msg_size=0, autoping=True)
    try:
        opened = Peer(ws)
        greeting = await opened.receive()
        assert greeting["type"] == "connected", greeting
        yield opened
    finally:
        await ws.close()


def plain_init(session_id: str, manifest_path: str | None, owner: str | None) -> Frame:
    """A ``session_init`` naming a database (or none)."""
    message: Frame = {"type": "session_init", "session_id": session_id, "job_id": 1}
    if manifest_path is not None:
        message["vector_database"] = {"manifest_path": manifest_path, "user_address": owner}
    return message


def encrypted_init(
    session_id: str,
    host_private_key: bytes,
    signer_key: bytes,
    session_key: bytes,
    manifest_path: str | None = None,
    owner: str | None = None,
    **plaintext: Any,
) -> Frame:
    """An ``encrypted_session_init`` sealed to the host, signed with ``signer_key``."""
    body: Frame = {"jobId": "7", "sessionKey": "0x" + session_key.hex(), **plaintext}
    if manifest_path is not None:
        body["vectorDatabase"] = {"manifestPath": manifest_path, "userAddress": owner}
    payload = seal_session_init(body, public_key_from_private(host_private_key), signer_key)
    return {"type": "encrypted_session_init", "session_id": session_id, "payload": payload}


def search(query: list[float], k: int = 3, **extra: Any) -> Frame:
    """A ``searchVectors`` message."""
    return {"type": "searchVectors", "requestId": "q", "queryVector": query, "k": k, **extra}
