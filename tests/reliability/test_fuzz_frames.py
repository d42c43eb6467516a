"""Hostile frames of any shape (SPEC section 1): every one gets its documented error code, the
socket stays open (unless a frame passes 4x the size limit), and other sessions are served.

Frames: random JSON values, random objects with known and unknown types, text that is not
JSON (NaN, Infinity, 1e400, truncated documents), binary frames, nesting past the parser's
depth limit, frames at and over ``S5VEC_MAX_FRAME_MB`` (1 here), and compressed frames that
inflate past it.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from s5vec.formats.metadata import nested_deeper_than
from s5vec.sessions.messages import MAX_ECHO_DEPTH
from tests.reliability.fuzzing import FUZZ, SOAK, Target, error_code, parses
from tests.reliability.harness import soak
from tests.reliability.hostile import (
    NON_FINITE_TEXT,
    UNICODE_TRICKS,
    dumps,
    echo_values,
    filter_values,
    hostile_values,
    json_values,
    nested,
)
from tests.reliability.wire import Peer

MIB = 1024 * 1024
KNOWN = ("session_init", "encrypted_session_init", "uploadVectors", "searchVectors")
ALLOWED: dict[str, tuple[set[str], str]] = {
    "session_init": (
        {"INVALID_MESSAGE", "INVALID_PATH", "INVALID_ADDRESS", "OWNER_MISMATCH"},
        "session_init_ack",
    ),
    "encrypted_session_init": (
        {
            "INVALID_MESSAGE",
            "MISSING_PAYLOAD",
            "INVALID_HEX_ENCODING",
            "INVALID_NONCE_SIZE",
            "INVALID_PAYLOAD",
            "DECRYPTION_FAILED",
            "INVALID_PATH",
            "INVALID_ADDRESS",
            "OWNER_MISMATCH",
        },
        "session_init_ack",
    ),
    "uploadVectors": ({"INVALID_MESSAGE", "MEMORY_LIMIT_EXCEEDED"}, "uploadVectorsResponse"),
    "searchVectors": (
        {"INVALID_MESSAGE", "VECTORS_NOT_LOADED", "VECTORS_LOADING"},
        "searchVectorsResponse",
    ),
}
"""Per known type: the error codes SPEC section 7 lists for it, and its success reply."""


def check_reply(message: Any, reply: dict[str, Any]) -> None:
    """``reply`` is what SPEC sections 1 and 7 promise for ``message``."""
    code = error_code(reply)
    assert code != "INTERNAL_ERROR", reply
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        assert code == "INVALID_MESSAGE", reply
        return
    kind = message["type"]
    if _unechoable(message):
        assert code == "INVALID_MESSAGE", reply  # before its type is even looked at
        return
    if kind not in ALLOWED:
        assert code == "UNKNOWN_MESSAGE_TYPE", reply
        return
    codes, success = ALLOWED[kind]
    assert code in codes if code is not None else reply["type"] == success, reply


def _unechoable(message: dict[str, Any]) -> bool:
    """Whether a field the reply would echo nests past what the host echoes (SPEC 1, 7).
    (``id`` is not looked at: every frame is sent with a fresh one.)"""
    kind = message.get("type")
    echoed = []
    if kind in ("session_init", "encrypted_session_init"):
        echoed.append(message.get("session_id", message.get("sessionId")))
    elif kind in ("uploadVectors", "searchVectors"):
        echoed.append(message.get("requestId"))
    return any(nested_deeper_than(value, MAX_ECHO_DEPTH) for value in echoed)


ECHOED = ("id", "session_id", "sessionId", "requestId")
FIELDS = (
    "job_id",
    "chain_id",
    "vector_database",
    "vectorDatabase",
    "payload",
    "vectors",
    "queryVector",
    "k",
    "threshold",
    "metadataFilter",
    "replace",
)


@st.composite
def objects(draw: st.DrawFn) -> dict[str, Any]:
    """Objects with a known or unknown ``type`` and hostile fields of known names."""
    kind = draw(
        st.one_of(st.sampled_from(KNOWN), st.text(max_size=20), UNICODE_TRICKS, hostile_values)
    )
    fields = draw(st.dictionaries(st.sampled_from(FIELDS), hostile_values, max_size=6))
    if "metadataFilter" in fields:
        fields["metadataFilter"] = draw(filter_values)
    echoed = draw(st.dictionaries(st.sampled_from(ECHOED), echo_values, max_size=2))
    return {**fields, **echoed, "type": kind}


async def _any_json(target: Target, value: Any) -> None:
    reply, p = await target.exchange(value if isinstance(value, dict) else dumps(value))
    if parses(dumps(value)) is ...:  # e.g. an integer past float64: not JSON to the host
        assert error_code(reply) == "INVALID_MESSAGE", reply
    else:
        check_reply(value, reply)
    await target.probe(p)


@FUZZ
@given(value=st.one_of(json_values, objects()))
async def test_any_json_gets_its_documented_reply(target: Target, value: Any) -> None:
    await _any_json(target, value)


@soak
@SOAK
@given(value=st.one_of(json_values, objects()))
async def test_any_json_gets_its_documented_reply_soak(target: Target, value: Any) -> None:
    await _any_json(target, value)


@st.composite
def broken_text(draw: st.DrawFn) -> str:
    """Text that is not a JSON document: garbage, cut documents, non-finite numbers."""
    kind = draw(st.sampled_from(["text", "cut", "non-finite", "trailing", "deep"]))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "cut":
        whole = dumps({"type": "searchVectors", "queryVector": [0.5, 1.5], "k": 3})
        return whole[: draw(st.integers(1, len(whole) - 1))]
    if kind == "non-finite":
        number = draw(NON_FINITE_TEXT)
        return draw(
            st.sampled_from(
                [
                    f'{{"type":"searchVectors","queryVector":[{number},1],"k":1}}',
                    f'{{"type":"uploadVectors","vectors":[{{"id":"a","vector":[{number}]}}]}}',
                    f'{{"type":"session_init","session_id":"s","job_id":{number}}}',
                ]
            )
        )
    if kind == "trailing":
        return dumps({"type": "searchVectors"}) + draw(st.sampled_from(["x", "}", "{}", ","]))
    depth = draw(st.integers(1025, 5000))
    return '{"type":"searchVectors","x":' + "[" * depth + "]" * depth + "}"


async def _broken_text(target: Target, text: str) -> None:
    value = parses(text)
    if isinstance(value, dict):  # happens to be an object: replies carry its id
        reply, p = await target.exchange(value)
        check_reply(value, reply)
    else:
        reply, p = await target.exchange(text)
        assert error_code(reply) == "INVALID_MESSAGE", reply
    await target.probe(p)


@FUZZ
@given(text=broken_text())
async def test_text_that_is_not_a_json_object_is_invalid_message(target: Target, text: str) -> None:
    await _broken_text(target, text)


@soak
@SOAK
@given(text=broken_text())
async def test_text_that_is_not_a_json_object_is_invalid_message_soak(
    target: Target, text: str
) -> None:
    await _broken_text(target, text)


@FUZZ
@given(data=st.binary(max_size=300))
async def test_binary_frames_are_invalid_message(target: Target, data: bytes) -> None:
    reply, p = await target.exchange(data)
    assert error_code(reply) == "INVALID_MESSAGE", reply
    await target.probe(p)


async def frame_reply(p: Peer, text: str) -> dict[str, Any] | None:
    """Send ``text``; the reply, or None when the host closed the socket instead."""
    try:
        await p.send_text(text)
        message = await p.ws.receive(timeout=60)
    except ConnectionError:  # closed (1009) while the frame was still being written
        return None
    if message.type is aiohttp.WSMsgType.TEXT:
        frame: dict[str, Any] = orjson.loads(message.data)
        return frame
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
    assert p.ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    return None


def padded(size: int) -> str:
    """A JSON object of exactly ``size`` bytes with an unknown type."""
    head = '{"type":"s5vec.padding","pad":"'
    return head + "a" * (size - len(head) - 2) + '"}'


@pytest.mark.parametrize(
    ("size", "answer"),
    [
        (MIB, "UNKNOWN_MESSAGE_TYPE"),  # at the limit: handled as usual
        (MIB + 1, "INVALID_MESSAGE"),  # over it: refused, socket open
        (3 * MIB, "INVALID_MESSAGE"),
        (4 * MIB, "INVALID_MESSAGE"),  # at the hard cap: still answered
        (4 * MIB + 1, None),  # over the hard cap: the host may close with 1009
    ],
    ids=["limit", "limit+1", "3x", "4x", "4x+1"],
)
async def test_frames_at_and_over_the_size_limit(
    target: Target, size: int, answer: str | None
) -> None:
    target.figures.tally(target.heading)
    ws = await target.http.ws_connect(target.host.ws_url, max_msg_size=0)
    p = Peer(ws)
    await p.receive()
    reply = await frame_reply(p, padded(size))
    if answer is not None:
        assert reply is not None, f"closed with {ws.close_code}"
        assert error_code(reply) == answer, reply
    if reply is not None:
        assert error_code(reply) == (answer or "INVALID_MESSAGE"), reply
        await target.probe(p)
    await target.bystander_ok()


@pytest.mark.parametrize("inflated", [2 * MIB, 64 * MIB], ids=["2MiB", "64MiB"])
async def test_compressed_frames_are_limited_after_inflation(target: Target, inflated: int) -> None:
    target.figures.tally(target.heading)
    ws = await target.http.ws_connect(target.host.ws_url, max_msg_size=0, compress=15)
    assert ws.compress, "the host did not negotiate permessage-deflate"
    p = Peer(ws)
    await p.receive()
    text = json.dumps({"type": "searchVectors", "k": 1, "queryVector": [1] + [0] * 10}) + " " * (
        inflated
    )
    reply = await frame_reply(p, text)
    if reply is not None:
        assert error_code(reply) == "INVALID_MESSAGE", reply
        await target.probe(p)
    else:
        assert inflated > 4 * MIB
    await target.bystander_ok()


async def test_nesting_below_the_parser_limit_is_answered(target: Target) -> None:
    for depth in (200, 500, 800):
        for leaf_as_dict in (False, True):
            target.figures.tally(target.heading)
            value = nested(depth, as_dict=leaf_as_dict)
            message = {"type": "searchVectors", "queryVector": [1, 0], "k": 1, "x": value}
            reply, p = await target.exchange(message)
            check_reply(message, reply)
            await target.probe(p)
