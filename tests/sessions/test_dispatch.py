"""Dispatch on ``type``, id echo, both key spellings, unknown fields, internal errors."""

from __future__ import annotations

import math
from typing import Any

import pytest

from s5vec.sessions import SessionHub
from tests.sessions.conftest import HubMaker
from tests.sessions.dbs import database, write
from tests.sessions.fakes import FailingSearchObserver
from tests.sessions.helpers import connect, ended, records, search, upload


async def test_unknown_type_gets_unknown_message_type_with_id(hub: SessionHub) -> None:
    conn, sent = connect(hub)
    await conn.handle({"type": "frobnicate", "id": "m9"})
    assert sent.frames == [
        {
            "type": "error",
            "code": "UNKNOWN_MESSAGE_TYPE",
            "message": "Unknown message type 'frobnicate'",
            "id": "m9",
        }
    ]


@pytest.mark.parametrize("message", [{"id": 7}, {"type": 3, "id": 7}, {"type": None, "id": 7}])
async def test_missing_or_non_string_type_is_invalid_message(
    hub: SessionHub, message: dict[str, Any]
) -> None:
    conn, sent = connect(hub)
    await conn.handle(message)
    assert sent.last["code"] == "INVALID_MESSAGE"
    assert sent.last["id"] == 7


async def test_a_non_object_message_is_invalid_message(hub: SessionHub) -> None:
    conn, sent = connect(hub)
    await conn.handle(["session_init"])  # type: ignore[arg-type]
    assert sent.frames == [
        {"type": "error", "code": "INVALID_MESSAGE", "message": "A message is an object"}
    ]


async def test_reply_without_id_has_no_id_key(hub: SessionHub) -> None:
    conn, sent = connect(hub)
    await conn.handle({"type": "nope"})
    assert "id" not in sent.last


@pytest.mark.parametrize("echo", ["m1", 12, None, {"nested": [1]}])
async def test_every_reply_kind_echoes_id_as_received(hub: SessionHub, echo: Any) -> None:
    conn, sent = connect(hub)
    await conn.handle({"type": "session_init", "session_id": "s1", "id": echo})
    await conn.handle(upload(records(2, 4), id=echo))
    await conn.handle(search([1.0, 0, 0, 0], id=echo))
    await conn.handle(search([1.0, 0, 0, 0], k=0, id=echo))
    await conn.handle({"type": "x", "id": echo})
    assert [f["type"] for f in sent.frames] == [
        "session_init_ack",
        "uploadVectorsResponse",
        "searchVectorsResponse",
        "error",
        "error",
    ]
    assert all(f["id"] == echo for f in sent.frames)


async def test_ill_typed_field_is_invalid_message_naming_the_field(hub: SessionHub) -> None:
    conn, sent = connect(hub)
    await conn.handle(search([1.0, 2.0], k="five", id="q"))  # type: ignore[arg-type]
    frame = sent.last
    assert frame["code"] == "INVALID_MESSAGE"
    assert "$.k" in frame["message"]
    assert frame["requestId"] == "q1"
    assert frame["id"] == "q"


async def test_missing_required_field_is_invalid_message(hub: SessionHub) -> None:
    conn, sent = connect(hub)
    await conn.handle({"type": "searchVectors", "requestId": "r", "k": 3})
    assert sent.last["code"] == "INVALID_MESSAGE"
    assert "queryVector" in sent.last["message"]
    await conn.handle({"type": "session_init", "id": "i"})
    assert sent.last == {
        "type": "error",
        "code": "INVALID_MESSAGE",
        "message": sent.last["message"],
        "session_id": None,
        "id": "i",
    }
    assert "session_id" in sent.last["message"]


async def test_unknown_fields_are_ignored(hub: SessionHub) -> None:
    conn, sent = connect(hub)
    await conn.handle({"type": "session_init", "session_id": "s", "colour": "blue", "x": [1]})
    assert sent.last["type"] == "session_init_ack"
    await conn.handle(upload(records(1, 3), extra={"a": 1}))
    assert sent.last["status"] == "success"


async def test_camel_case_init_keys_are_accepted(hub: SessionHub, storage: Any, user: Any) -> None:
    db = database(user.address)
    await write(storage, db.files())
    conn, sent = connect(hub)
    await conn.handle(
        {
            "type": "session_init",
            "sessionId": "s-camel",
            "jobId": 5,
            "chainId": "84532",
            "vectorDatabase": {"manifestPath": db.path, "userAddress": db.owner},
            "id": "c",
        }
    )
    assert sent.frames[0] == {
        "type": "session_init_ack",
        "status": "success",
        "session_id": "s-camel",
        "job_id": 5,
        "chain_id": "84532",
        "message": sent.frames[0]["message"],
        "id": "c",
    }
    assert (await ended(sent, "s-camel"))["event"] == "loading_complete"


async def test_snake_case_wins_when_both_spellings_are_sent(hub: SessionHub) -> None:
    conn, sent = connect(hub)
    await conn.handle({"type": "session_init", "session_id": "snake", "sessionId": "camel"})
    assert sent.last["session_id"] == "snake"


async def test_an_unexpected_exception_is_internal_error_and_the_connection_survives(
    make_hub: HubMaker,
) -> None:
    observer = FailingSearchObserver()
    conn, sent = connect(make_hub(observer=observer))
    await conn.handle({"type": "session_init", "session_id": "s1"})
    await conn.handle(upload(records(3, 4)))
    await conn.handle(search([1.0, 0, 0, 0], id="boom"))
    frame = sent.last
    assert frame["type"] == "error"
    assert frame["code"] == "INTERNAL_ERROR"
    assert frame["requestId"] == "q1"
    assert frame["id"] == "boom"
    assert "trace id" in frame["message"]
    await conn.handle(search([1.0, 0, 0, 0], id="again"))
    assert sent.last["type"] == "searchVectorsResponse"
    assert len(sent.last["results"]) == 3


async def test_non_finite_query_is_invalid_message(hub: SessionHub) -> None:
    conn, sent = connect(hub)
    await conn.handle(upload(records(2, 2)))
    await conn.handle(search([math.nan, 1.0]))
    assert sent.last["code"] == "INVALID_MESSAGE"
    await conn.handle(search([math.inf, 1.0]))
    assert sent.last["code"] == "INVALID_MESSAGE"


async def test_handle_after_close_sends_nothing(hub: SessionHub) -> None:
    conn, sent = connect(hub)
    await conn.close()
    await conn.handle({"type": "session_init", "session_id": "late"})
    assert sent.frames == []
    assert hub.active_sessions == 0


async def test_a_failing_send_does_not_break_the_handler(hub: SessionHub) -> None:
    attempts: list[dict[str, Any]] = []

    async def broken(frame: dict[str, Any]) -> None:
        attempts.append(frame)
        raise ConnectionResetError("socket closed")

    conn = hub.connect(broken)
    await conn.handle({"type": "session_init", "session_id": "s1"})
    await conn.handle({"type": "nope"})
    assert [f["type"] for f in attempts] == ["session_init_ack", "error"]
    await conn.close()
    assert hub.active_sessions == 0
