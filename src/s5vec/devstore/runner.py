"""Start and run the dev store on a host and port."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from yarl import URL

from s5vec.devstore.app import create_app


@dataclass(frozen=True)
class RunningDevStore:
    """A started dev store: its base URL and the runner that owns the socket."""

    url: str
    runner: web.AppRunner

    async def stop(self) -> None:
        """Close the listening socket and finish open requests."""
        await self.runner.cleanup()


async def start(root: Path, host: str = "127.0.0.1", port: int = 0) -> RunningDevStore:
    """Start serving ``root`` on ``host:port`` (port 0 picks a free one) and return at once."""
    runner = web.AppRunner(create_app(root), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    return RunningDevStore(str(URL.build(scheme="http", host=bound_host, port=bound_port)), runner)


async def serve(root: Path, host: str, port: int) -> None:
    """Serve ``root`` on ``host:port`` until cancelled, then shut down cleanly."""
    store = await start(root, host, port)
    try:
        await asyncio.Event().wait()
    finally:
        await store.stop()
