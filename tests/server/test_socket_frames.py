"""WebSocket framing (SPEC section 1): greeting, id echo, pings, and frames the host refuses."""

from __future__ import annotations

import contextlib

import aiohttp
import orjson
from aiohttp import WSCloseCode, WSMsgType

from tests.server.conftest import HostFactory
from tests.server.helpers import RunningHost, connect

MIB = 1024 * 1024


async def assert_still_answers(ws: aiohttp.ClientWebSocketResponse) -> None:
    """The socket is open and handles the next frame (an unknown type, echoing its id)."""
    await ws.send_str('{"type": "no_such_type", "id": "probe"}')
    reply = await ws.receive_json(timeout=10)
    assert reply["type"] == "error"
    assert reply["code"] == "UNKNOWN_MESSAGE_TYPE"
    assert reply["id"] == "probe"


async def test_connect_is_greeted_with_a_connected_frame(
    host: RunningHost, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, host)  # checks the greeting
    await ws.close()


async def test_unknown_type_gets_an_error_echoing_the_id(
    host: RunningHost, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, host)
    await ws.send_str('{"type": "teleport", "id": 42}')
    reply = await ws.receive_json(timeout=10)
    assert reply == {**reply, "type": "error", "code": "UNKNOWN_MESSAGE_TYPE", "id": 42}
    await ws.close()


async def test_ping_gets_a_pong(host: RunningHost, http: aiohttp.ClientSession) -> None:
    ws = await connect(http, host, autoping=False)  # so the client hands us the pong
    await ws.ping(b"are you there")
    pong = await ws.receive(timeout=10)
    assert pong.type is WSMsgType.PONG
    assert pong.data == b"are you there"
    await ws.close()


async def test_text_that_is_not_json_is_an_invalid_message(
    host: RunningHost, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, host)
    await ws.send_str("{not json")
    reply = await ws.receive_json(timeout=10)
    assert reply["type"] == "error"
    assert reply["code"] == "INVALID_MESSAGE"
    await assert_still_answers(ws)
    await ws.close()


async def test_json_that_is_not_an_object_is_an_invalid_message(
    host: RunningHost, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, host)
    for text in ("[1, 2]", '"session_init"', "null", "3"):
        await ws.send_str(text)
        reply = await ws.receive_json(timeout=10)
        assert (reply["type"], reply["code"]) == ("error", "INVALID_MESSAGE")
    await assert_still_answers(ws)
    await ws.close()


async def test_invalid_utf8_is_an_invalid_message(
    host: RunningHost, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, host)
    await ws.send_frame(b'{"type": "\xff\xfe"}', WSMsgType.TEXT)
    reply = await ws.receive_json(timeout=10)
    assert (reply["type"], reply["code"]) == ("error", "INVALID_MESSAGE")
    await assert_still_answers(ws)
    await ws.close()


async def test_binary_frame_is_an_invalid_message(
    host: RunningHost, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, host)
    await ws.send_bytes(orjson.dumps({"type": "searchVectors", "id": "b"}))
    reply = await ws.receive_json(timeout=10)
    assert (reply["type"], reply["code"]) == ("error", "INVALID_MESSAGE")
    await assert_still_answers(ws)
    await ws.close()


async def test_frame_over_the_limit_is_an_invalid_message(
    start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    host = await start_host(S5VEC_MAX_FRAME_MB="1")
    ws = await connect(http, host)
    padding = "x" * (MIB + 10)
    await ws.send_str(orjson.dumps({"type": "uploadVectors", "pad": padding}).decode())
    reply = await ws.receive_json(timeout=10)
    assert (reply["type"], reply["code"]) == ("error", "INVALID_MESSAGE")
    assert "too large" in reply["message"]
    await assert_still_answers(ws)
    await ws.close()


async def test_frame_at_the_limit_is_handled(
    start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    host = await start_host(S5VEC_MAX_FRAME_MB="1")
    ws = await connect(http, host)
    frame = {"type": "no_such_type", "id": "big", "pad": ""}
    frame["pad"] = "x" * (MIB - len(orjson.dumps(frame)))
    data = orjson.dumps(frame)
    assert len(data) == MIB
    await ws.send_frame(data, WSMsgType.TEXT)
    reply = await ws.receive_json(timeout=10)
    assert (reply["code"], reply["id"]) == ("UNKNOWN_MESSAGE_TYPE", "big")
    await ws.close()


async def test_frame_over_the_hard_cap_closes_with_1009(
    start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    host = await start_host(S5VEC_MAX_FRAME_MB="1")
    ws = await connect(http, host)
    # The host may stop reading as soon as the header announces the size.
    with contextlib.suppress(ConnectionError):
        await ws.send_str("x" * (4 * MIB + 1))
    closing = await ws.receive(timeout=10)
    assert closing.type is WSMsgType.CLOSE
    assert closing.data == WSCloseCode.MESSAGE_TOO_BIG
    await ws.close()


async def test_replies_keep_the_order_of_the_requests(
    host: RunningHost, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, host)
    for n in range(30):
        await ws.send_str(orjson.dumps({"type": f"unknown-{n}", "id": n}).decode())
    replies = [await ws.receive_json(timeout=10) for _ in range(30)]
    assert [reply["id"] for reply in replies] == list(range(30))
    await ws.close()
