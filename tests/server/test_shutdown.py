"""Graceful shutdown in-process: open sockets get 1001 and running loads are cancelled."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import WSCloseCode, WSMsgType

from s5vec.storage.local import LocalStorage
from tests.server.conftest import HostFactory
from tests.server.helpers import connect, stuck_load


async def test_shutdown_closes_sockets_with_1001_and_cancels_loads(
    start_host: HostFactory,
    stalling_bridge: tuple[str, LocalStorage],
    http: aiohttp.ClientSession,
) -> None:
    host, loading = await stuck_load(start_host, stalling_bridge, http)
    idle = await connect(http, host)
    registry = host.services.metrics.registry
    stopping = asyncio.create_task(host.stop())
    for ws in (loading, idle):
        closing = await ws.receive(timeout=30)
        while closing.type is WSMsgType.TEXT:  # progress still in flight
            assert '"loading_complete"' not in closing.data
            closing = await ws.receive(timeout=30)
        assert closing.type is WSMsgType.CLOSE
        assert closing.data == WSCloseCode.GOING_AWAY
        await ws.close()
    await asyncio.wait_for(stopping, 60)
    assert registry.get_sample_value("vector_loading_total", {"outcome": "cancelled"}) == 1
    assert registry.get_sample_value("active_sessions") == 0
