"""Graceful shutdown in-process: open sockets get 1001 and running loads are cancelled."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import WSCloseCode, WSMsgType

from s5vec.storage.local import LocalStorage
from tests.server.conftest import HostFactory
from tests.server.helpers import connect, publish, receive_until


async def test_shutdown_closes_sockets_with_1001_and_cancels_loads(
    start_host: HostFactory,
    stalling_bridge: tuple[str, LocalStorage],
    http: aiohttp.ClientSession,
) -> None:
    url, files = stalling_bridge
    db = await publish(files, "stuck")
    host = await start_host(S5_STORAGE="bridge", ENHANCED_S5_URL=url, S5_DOWNLOAD_RETRIES="0")
    loading = await connect(http, host)
    idle = await connect(http, host)
    await loading.send_json(
        {"type": "session_init", "session_id": "s1", "vector_database": db.vector_database()}
    )
    await receive_until(
        loading,
        lambda f: (
            f.get("type") == "vector_loading_progress"
            and f["payload"]["event"] == "chunk_downloaded"
        ),
    )  # the load is under way and stuck on chunk 1
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
