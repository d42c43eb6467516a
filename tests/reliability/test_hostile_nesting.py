"""Deeply nested values where the host must still answer (SPEC sections 1, 4, 5 and 7).

- Echoed fields: ``id``, ``session_id`` and ``requestId`` come back in the reply as
  received; a value the host's JSON encoder cannot write back (nested past its 254-level
  limit) must still get a reply, at worst without the echo.
- Filter operands nested hundreds of levels deep: an answer or INVALID_MESSAGE.
- Vector metadata nested past 254 levels in a database file: refused at load
  (CHUNK_PARSE_ERROR) or answered in search results, never a silent missing reply.
The socket and other sessions keep working throughout.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.reliability.fuzzing import Target, error_code
from tests.reliability.hostile import nested
from tests.reliability.rawdb import COMPLETE, good_db, load, write_db
from tests.reliability.wire import Frame, search

DEEP = nested(300)
SHALLOW = nested(200)


def message(field: str, value: Any) -> Frame:
    """A message whose ``field`` holds ``value`` (and is otherwise what the field's type needs)."""
    if field == "session_id":
        return {"type": "session_init", "session_id": value}
    if field == "requestId":
        return {"type": "searchVectors", "requestId": value, "queryVector": [1.0], "k": 1}
    return {"type": "s5vec.unknown", field: value}


async def send_raw(target: Target, frame: Frame) -> Frame | None:
    """Send ``frame`` as is (its own ``id``); the first reply, or None if none comes."""
    target.figures.tally(target.heading)
    ws = await target.http.ws_connect(target.host.ws_url)
    try:
        await ws.receive_json(timeout=5)  # connected
        await ws.send_str(json.dumps(frame))
        try:
            reply: Frame = await ws.receive_json(timeout=3)
        except TimeoutError:
            return None
        probe = {"type": "s5vec.probe", "id": "p"}
        await ws.send_json(probe)
        after: Frame = await ws.receive_json(timeout=5)
        assert after.get("id") == "p"  # the socket still works either way
        return reply
    finally:
        await ws.close()


@pytest.mark.parametrize("field", ["id", "session_id", "requestId"])
async def test_an_echo_field_nested_200_deep_is_echoed(target: Target, field: str) -> None:
    reply = await send_raw(target, message(field, SHALLOW))
    assert reply is not None
    assert error_code(reply) is not None
    assert reply.get(field) == SHALLOW
    await target.bystander_ok()


async def test_two_echo_fields_nested_300_deep_still_get_a_reply(target: Target) -> None:
    reply = await send_raw(target, {**message("requestId", DEEP), "id": DEEP})
    assert reply is not None, "no reply at all"
    assert error_code(reply) == "INVALID_MESSAGE"
    await target.bystander_ok()


@pytest.mark.parametrize("field", ["id", "session_id", "requestId"])
async def test_an_echo_field_nested_300_deep_still_gets_a_reply(target: Target, field: str) -> None:
    reply = await send_raw(target, message(field, DEEP))
    await target.bystander_ok()
    assert reply is not None, "no reply at all"
    assert error_code(reply) == "INVALID_MESSAGE"
    assert f"{field} nests more than" in reply["message"]


UPLOADS = [{"id": f"u{i}", "vector": [1.0, i], "metadata": {"tag": "a"}} for i in range(1, 4)]


@pytest.mark.parametrize("depth", [200, 500])
@pytest.mark.parametrize(
    "shape",
    [
        lambda v: {"tag": {"$eq": v}},
        lambda v: {"tag": v},
        lambda v: {"tag": {"$in": [v]}},
    ],
    ids=["eq", "bare", "in"],
)
async def test_a_deeply_nested_filter_operand_is_answered_or_invalid(
    target: Target, depth: int, shape: Any
) -> None:
    reply, p = await target.exchange({"type": "uploadVectors", "vectors": UPLOADS})
    assert reply["uploaded"] == len(UPLOADS)
    flt = shape(nested(depth))
    found = await p.request(
        {"type": "searchVectors", "queryVector": [1, 1], "k": 3, "metadataFilter": flt}
    )
    assert found["type"] == "searchVectorsResponse" or error_code(found) == "INVALID_MESSAGE", found
    await target.probe(p)
    await target.bystander_ok()


@pytest.mark.parametrize("depth", [200, 250, 251, 254, 500])
async def test_database_metadata_nested_deeply_is_refused_or_searchable(
    target: Target, depth: int
) -> None:
    db = good_db()
    db.chunks[0]["vectors"][0]["metadata"] = {"deep": nested(depth)}
    path = await write_db(target.store.files, db, "cbor", None)
    end, p = await load(target, path, None)
    if end["event"] == COMPLETE:
        found = await p.request(search([1.0, 0.0, 0.0, 0.0], k=10), wait_s=5)
        assert found["type"] == "searchVectorsResponse", found
        assert len(found["results"]) == 5
    else:
        assert end["error_code"] == "CHUNK_PARSE_ERROR", end
    await target.probe(p)
    await target.bystander_ok()


@pytest.mark.parametrize("depth", [200, 250, 253, 254, 300])
async def test_uploaded_metadata_nested_deeply_is_refused_or_searchable(
    target: Target, depth: int
) -> None:
    record = {"id": "deep", "vector": [1.0, 0.0], "metadata": {"deep": nested(depth)}}
    reply, p = await target.exchange({"type": "uploadVectors", "vectors": [record]})
    assert reply["type"] == "uploadVectorsResponse", reply
    if reply["uploaded"]:
        found = await p.request(search([1.0, 0.0], k=1), wait_s=5)
        assert found["type"] == "searchVectorsResponse", found
    else:
        assert reply["errors"][0]["code"] == "INVALID_VECTOR", reply
    await target.probe(p)
