"""A real aiohttp server on 127.0.0.1 that answers from a script, for retry tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

Step = Callable[[web.Request], Awaitable[web.StreamResponse]]


def status(code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Step:
    """A step answering ``code`` with ``body``."""

    async def step(request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, body=body, headers=headers)

    return step


async def truncated(request: web.Request) -> web.StreamResponse:
    """Promise 100 bytes, send 10, drop the connection."""
    response = web.StreamResponse(headers={"Content-Length": "100"})
    await response.prepare(request)
    await response.write(b"x" * 10)
    assert request.transport is not None
    request.transport.close()
    return response


async def hang(request: web.Request) -> web.StreamResponse:
    """Never answer (until the server shuts down)."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def disconnect(request: web.Request) -> web.StreamResponse:
    """Close the connection without any response."""
    assert request.transport is not None
    request.transport.close()
    return web.Response()


@dataclass
class ScriptedServer:
    """Plays ``steps`` in order (the last one repeats) and records each request."""

    steps: list[Step]
    url: str = ""
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)

    @property
    def hits(self) -> int:
        """How many requests arrived."""
        return len(self.requests)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Record the request, then play the next step."""
        body = await request.read()
        self.requests.append((request.method, request.rel_url.raw_path, body))
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        return await step(request)


@asynccontextmanager
async def scripted_server(*steps: Step) -> AsyncIterator[ScriptedServer]:
    """Start a scripted server on a free 127.0.0.1 port for the ``with`` block."""
    server = ScriptedServer(list(steps))
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield server
    finally:
        await runner.cleanup()


class SleepRecorder:
    """An injected tenacity sleep: records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        """Record ``seconds`` instead of sleeping."""
        self.waits.append(seconds)
