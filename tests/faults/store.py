"""TEST TOOL, not product code: a fault-injecting S5 store for reliability tests.

``FaultyStore`` is the real dev store (``s5vec.devstore``: the bridge API over a directory)
with one aiohttp middleware in front that plays scripted faults per request path:

- ``Latency(s, then)``: answer normally (or meet fault ``then``) after ``s`` seconds;
- ``Status(code, retry_after)``: answer ``code`` (5xx, 429 with ``Retry-After``, 403, 404...);
- ``Reset()``: abort the TCP connection (RST) before any response;
- ``Truncate(keep)``: promise the full ``Content-Length``, send a part, close;
- ``Corrupt()``: answer the same number of bytes, garbled (never valid CBOR, JSON or AES-GCM);
- ``Stall()``: never answer (until the store stops);
- ``StallBody(keep)``: send the headers and a part of the body, then never finish.

A script maps a path pattern (``fnmatch`` syntax over the S5 path, e.g. ``*/chunk-1.json``;
other routes by their URL path, e.g. ``/health``) to faults: ``add`` plays its faults once
each, in order, one per request, then answers normally; ``always`` applies to every request.
Every request is recorded (``hits``), so a test can count retries and see which fault each
attempt met. Bind it to 127.0.0.1 only: it has no authentication.
"""

from __future__ import annotations

import asyncio
import fnmatch
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web

from s5vec.devstore import create_app
from s5vec.storage.local import LocalStorage

FS_PREFIX = "/s5/fs/"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Fault:
    """One scripted misbehaviour of one request; subclasses say which."""

    async def apply(
        self, request: web.Request, serve: Handler, stopping: asyncio.Event
    ) -> web.StreamResponse:
        """Answer ``request`` (``serve`` gives the normal answer); wait on ``stopping`` only."""
        raise NotImplementedError

    @property
    def label(self) -> str:
        """A short name for request logs and test ids."""
        return type(self).__name__


@dataclass(frozen=True)
class Latency(Fault):
    """Answer ``seconds`` late: normally, or as fault ``then`` does."""

    seconds: float
    then: Fault | None = None

    async def apply(
        self, request: web.Request, serve: Handler, stopping: asyncio.Event
    ) -> web.StreamResponse:
        """Sleep, then serve (or apply ``then``)."""
        await asyncio.sleep(self.seconds)
        if self.then is not None:
            return await self.then.apply(request, serve, stopping)
        return await serve(request)

    @property
    def label(self) -> str:
        """``Latency`` or ``Latency+Status503``."""
        return "Latency" + (f"+{self.then.label}" if self.then is not None else "")


@dataclass(frozen=True)
class Status(Fault):
    """Answer ``code`` (with a ``Retry-After`` header when given) instead of the file."""

    code: int
    retry_after: str | None = None

    async def apply(
        self, request: web.Request, serve: Handler, stopping: asyncio.Event
    ) -> web.StreamResponse:
        """Answer the status."""
        headers = {"Retry-After": self.retry_after} if self.retry_after is not None else None
        return web.json_response({"error": "injected fault"}, status=self.code, headers=headers)

    @property
    def label(self) -> str:
        """``Status503``."""
        return f"Status{self.code}"


@dataclass(frozen=True)
class Reset(Fault):
    """Abort the connection with a TCP RST before any response byte."""

    async def apply(
        self, request: web.Request, serve: Handler, stopping: asyncio.Event
    ) -> web.StreamResponse:
        """Reset the socket."""
        transport = request.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        if sock is not None:  # linger 0: close() sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        return web.Response()


async def _body(request: web.Request, serve: Handler) -> tuple[web.StreamResponse, bytes | None]:
    """The normal answer and its body (None when it is not a 200 with a body)."""
    response = await serve(request)
    if response.status != 200 or not isinstance(response, web.Response):
        return response, None
    body = response.body
    return response, bytes(body) if isinstance(body, bytes | bytearray) else None


async def _partial(request: web.Request, body: bytes, keep: float) -> web.StreamResponse:
    """Send the headers promising all of ``body`` and its first ``keep`` fraction."""
    response = web.StreamResponse(
        headers={"Content-Length": str(len(body)), "Content-Type": "application/octet-stream"}
    )
    await response.prepare(request)
    await response.write(body[: int(len(body) * keep)])
    return response


@dataclass(frozen=True)
class Truncate(Fault):
    """Promise the whole body, send the first ``keep`` of it, close the connection."""

    keep: float = 0.5

    async def apply(
        self, request: web.Request, serve: Handler, stopping: asyncio.Event
    ) -> web.StreamResponse:
        """Send a part, then close."""
        response, body = await _body(request, serve)
        if body is None:
            return response
        partial = await _partial(request, body, self.keep)
        assert request.transport is not None
        request.transport.close()
        return partial


@dataclass(frozen=True)
class Corrupt(Fault):
    """Answer as many bytes as the file has, garbled.

    The first byte becomes ``0xff`` (a CBOR break code, not JSON either) and every other byte
    is XORed with ``0x5a``, so the answer decodes as nothing: not CBOR, not JSON, and it fails
    AES-GCM authentication under any key.
    """

    async def apply(
        self, request: web.Request, serve: Handler, stopping: asyncio.Event
    ) -> web.StreamResponse:
        """Serve the garbled bytes with a correct length."""
        response, body = await _body(request, serve)
        if not body:
            return response
        garbled = b"\xff" + bytes(byte ^ 0x5A for byte in body[1:])
        return web.Response(body=garbled, content_type="application/octet-stream")


@dataclass(frozen=True)
class Stall(Fault):
    """Never answer: the request hangs until the store stops."""

    async def apply(
        self, request: web.Request, serve: Handler, stopping: asyncio.Event
    ) -> web.StreamResponse:
        """Wait for the store to stop, then drop the connection."""
        await stopping.wait()
        assert request.transport is not None
        request.transport.abort()
        return web.Response()


@dataclass(frozen=True)
class StallBody(Fault):
    """Send the headers and the first ``keep`` of the body, then never finish."""

    keep: float = 0.5

    async def apply(
        self, request: web.Request, serve: Handler, stopping: asyncio.Event
    ) -> web.StreamResponse:
        """Send a part, then hang until the store stops."""
        response, body = await _body(request, serve)
        if body is None:
            return response
        partial = await _partial(request, body, self.keep)
        await stopping.wait()
        assert request.transport is not None
        request.transport.abort()
        return partial


@dataclass(frozen=True)
class Hit:
    """One request the store received: method, key (S5 path or URL path), the fault it met."""

    method: str
    key: str
    fault: str | None
    at: float
    """``time.monotonic()`` at arrival."""


@dataclass
class _Rule:
    pattern: str
    faults: list[Fault]
    repeat: bool


@dataclass
class FaultScript:
    """Which fault each request meets; rules are tried in the order they were added."""

    rules: list[_Rule] = field(default_factory=list)

    def add(self, pattern: str, *faults: Fault) -> None:
        """The next requests matching ``pattern`` meet ``faults``, one each, in order."""
        self.rules.append(_Rule(pattern, list(faults), repeat=False))

    def always(self, pattern: str, fault: Fault) -> None:
        """Every request matching ``pattern`` meets ``fault``."""
        self.rules.append(_Rule(pattern, [fault], repeat=True))

    def clear(self) -> None:
        """Remove every rule: from now on the store answers normally."""
        self.rules.clear()

    def next_fault(self, key: str) -> Fault | None:
        """The fault for a request to ``key`` (consuming it), or None to answer normally."""
        for rule in self.rules:
            if rule.faults and fnmatch.fnmatchcase(key, rule.pattern):
                return rule.faults[0] if rule.repeat else rule.faults.pop(0)
        return None


def request_key(request: web.Request) -> str:
    """The S5 path of a ``/s5/fs/`` request (percent-decoded), else the URL path."""
    raw = request.rel_url.raw_path
    if raw.startswith(FS_PREFIX):
        return unquote(raw[len(FS_PREFIX) :])
    return raw


@dataclass
class FaultyStore:
    """A running fault-injecting store: its URL, the directory it serves, script and log."""

    url: str
    files: LocalStorage
    script: FaultScript
    hits: list[Hit]
    stopping: asyncio.Event

    def requests(self, key: str, method: str = "GET") -> list[Hit]:
        """Requests to exactly ``key`` with ``method``, in arrival order."""
        return [hit for hit in self.hits if hit.key == key and hit.method == method]

    def count(self, key: str, method: str = "GET") -> int:
        """How many ``method`` requests reached ``key``."""
        return len(self.requests(key, method))


def _middleware(
    script: FaultScript, hits: list[Hit], stopping: asyncio.Event
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    @web.middleware
    async def faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request_key(request)
        fault = script.next_fault(key)
        hits.append(Hit(request.method, key, fault.label if fault else None, time.monotonic()))
        if fault is None:
            return await handler(request)
        return await fault.apply(request, handler, stopping)

    return faults


@asynccontextmanager
async def faulty_store(root: Path) -> AsyncIterator[FaultyStore]:
    """Serve ``root`` on a free 127.0.0.1 port with an empty script for the ``with`` block."""
    script, hits, stopping = FaultScript(), [], asyncio.Event()
    app = create_app(root)
    app.middlewares.append(_middleware(script, hits, stopping))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        yield FaultyStore(f"http://127.0.0.1:{port}", LocalStorage(root), script, hits, stopping)
    finally:
        stopping.set()
        await runner.cleanup()
