"""Who gets a socket and for how long (SPEC section 8): connection cap, idle timeout, origins."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import WSCloseCode, WSMsgType

from tests.server.conftest import HostFactory
from tests.server.helpers import RunningHost, connect


async def test_upgrades_beyond_max_connections_get_503(
    start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    host = await start_host(S5VEC_MAX_CONNECTIONS="2")
    first, second = await connect(http, host), await connect(http, host)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(host.ws_url)
    assert refused.value.status == 503
    # The open sockets are unaffected.
    await first.send_str('{"type": "nope", "id": 1}')
    assert (await first.receive_json(timeout=10))["id"] == 1
    await first.close()
    await second.close()


async def test_a_slot_frees_when_a_socket_closes(
    start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    host = await start_host(S5VEC_MAX_CONNECTIONS="1")
    ws = await connect(http, host)
    await ws.close()  # returns once the host answered the close frame
    refused = 0
    for _ in range(200):  # the host's handler may still be unwinding: retry for a while
        try:
            again = await connect(http, host)
        except aiohttp.WSServerHandshakeError as exc:
            refused = exc.status
            await asyncio.sleep(0.05)
            continue
        await again.close()
        return
    pytest.fail(f"the slot was never freed (HTTP {refused})")


async def test_a_silent_socket_is_closed_after_the_idle_timeout(
    start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    host = await start_host(S5VEC_IDLE_TIMEOUT_SECONDS="0.3")
    ws = await connect(http, host)
    closing = await ws.receive(timeout=30)
    assert closing.type is WSMsgType.CLOSE
    assert closing.data == WSCloseCode.OK
    assert closing.extra == "idle timeout"
    await ws.close()


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://app.example.com", 101),
        ("https://APP.example.com/", 101),
        (None, 101),
        ("https://evil.example.com", 403),
        ("http://app.example.com", 403),
        ("null", 403),
    ],
)
async def test_origin_allow_list(
    start_host: HostFactory, http: aiohttp.ClientSession, origin: str | None, status: int
) -> None:
    host = await start_host(S5VEC_ALLOWED_ORIGINS="https://app.example.com, https://b.example")
    headers = {"Origin": origin} if origin is not None else {}
    if status == 101:
        ws = await connect(http, host, headers=headers)
        await ws.close()
        return
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(host.ws_url, headers=headers)
    assert refused.value.status == status


async def test_any_origin_is_allowed_when_the_list_is_empty(
    host: RunningHost, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, host, headers={"Origin": "https://anywhere.example"})
    await ws.close()
