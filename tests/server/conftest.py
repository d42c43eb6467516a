"""Server test fixtures: a real host app on 127.0.0.1 (port picked by the OS) over real storage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from s5vec.config import Settings
from s5vec.errors import NotFound
from s5vec.server import create_app
from s5vec.storage.base import Storage
from s5vec.storage.local import LocalStorage
from tests.server.helpers import HOST_PRIVATE_KEY, RunningHost

HostFactory = Callable[..., Awaitable[RunningHost]]


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """Environment of a host over a temp data dir and local store, with a fixed host key."""
    return {
        "S5VEC_HOST": "127.0.0.1",
        "S5VEC_PORT": "0",
        "S5VEC_DATA_DIR": str(tmp_path / "data"),
        "S5_LOCAL_DIR": str(tmp_path / "s5"),
        "HOST_PRIVATE_KEY": HOST_PRIVATE_KEY,
    }


@pytest.fixture
async def start_host(base_env: dict[str, str]) -> AsyncIterator[HostFactory]:
    """``await start_host(ENV_VAR=value, storage=...)`` starts a host; all stop at teardown."""
    hosts: list[RunningHost] = []

    async def start(storage: Storage | None = None, **env: str) -> RunningHost:
        settings = Settings.from_env({**base_env, **env})
        app = create_app(settings, storage=storage)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        running = RunningHost("", runner)
        hosts.append(running)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        running.url = f"http://{host}:{port}"
        return running

    try:
        yield start
    finally:
        for running in reversed(hosts):
            await running.stop()


@pytest.fixture
async def host(start_host: HostFactory) -> RunningHost:
    """A host with the default settings over a temp local store."""
    return await start_host()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for test requests."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def stalling_bridge(tmp_path: Path) -> AsyncIterator[tuple[str, LocalStorage]]:
    """A bridge serving a directory, except that chunk 1 never arrives (until shutdown)."""
    files = LocalStorage(tmp_path / "bridge-files")

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def fs(request: web.Request) -> web.Response:
        path = request.match_info["path"]
        if path.endswith("/chunk-1.json"):
            await asyncio.Event().wait()
        try:
            return web.Response(body=await files.get(path))
        except NotFound:
            return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/s5/fs/{path:.+}", fs)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", files
    finally:
        await runner.cleanup()
