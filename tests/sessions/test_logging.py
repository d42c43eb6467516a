"""Log lines carry the session id and never a session key, decrypted content or vectors."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from s5vec.crypto.secp256k1 import HostKey
from s5vec.storage.local import LocalStorage
from tests.sessions.conftest import HubMaker
from tests.sessions.dbs import KEY, OTHER_KEY, User, database, write
from tests.sessions.fakes import FailingSearchObserver
from tests.sessions.helpers import connect, encrypted_init, ended, sealed_payload, search, upload

MARKER = 0.718281828459  # a vector component that must never reach a log line


def _render(events: list[dict[str, Any]]) -> str:
    lines = []
    for event in events:
        exc = event.get("exc_info")
        if isinstance(exc, BaseException):
            lines.append("".join(traceback.format_exception(exc)))
        lines.append(repr(event))
    return "\n".join(lines)


@pytest.mark.parametrize("stdlib_logger", [False, True])
async def test_session_key_and_decrypted_content_never_reach_the_logs(
    make_hub: HubMaker,
    storage: LocalStorage,
    host_key: HostKey,
    user: User,
    caplog: pytest.LogCaptureFixture,
    stdlib_logger: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    db = database(user.address, name="secret-project-name")
    await write(storage, db.files(key=KEY))
    with capture_logs() as events:
        logger = logging.getLogger("test.sessions") if stdlib_logger else None
        hub = make_hub(observer=FailingSearchObserver(), logger=logger)
        conn, sent = connect(hub)
        await conn.handle(encrypted_init("e1", sealed_payload(host_key, user, key=KEY, db=db)))
        await ended(sent, "e1")
        vectors = [{"id": "m", "vector": [MARKER] * (db.dims or 0), "metadata": {"k": "v"}}]
        await conn.handle(upload(vectors))
        await conn.handle(search([MARKER] * (db.dims or 0)))  # the observer fails: a logged bug
        assert sent.last["code"] == "INTERNAL_ERROR"
        trace_id = sent.last["message"].rsplit(" ", 1)[-1].rstrip(")")
        wrong = sealed_payload(host_key, user, key=OTHER_KEY, db=db)
        await conn.handle(encrypted_init("e2", wrong))
        assert (await ended(sent, "e2"))["error_code"] == "DECRYPTION_FAILED"
        tampered = {**wrong, "ciphertextHex": wrong["ciphertextHex"][:-2] + "00"}
        await conn.handle(encrypted_init("e3", tampered))
        await conn.close()
    text = _render(events) + "\n" + caplog.text
    assert trace_id in text
    assert "observer exploded" in text  # the traceback was logged
    for secret in (KEY.hex(), KEY.hex().upper(), repr(KEY), OTHER_KEY.hex(), repr(OTHER_KEY)):
        assert secret not in text
    assert "secret-project-name" not in text  # decrypted from the encrypted init
    assert str(MARKER) not in text
    assert "718281" not in text


async def test_session_log_lines_carry_the_session_id(
    make_hub: HubMaker, storage: LocalStorage, user: User
) -> None:
    db = database(user.address)
    await write(storage, db.files())
    with capture_logs() as events:
        hub = make_hub(logger=structlog.get_logger("test"))
        conn, sent = connect(hub)
        await conn.handle(
            {
                "type": "session_init",
                "session_id": "s-log",
                "vector_database": {"manifest_path": db.path, "user_address": db.owner},
            }
        )
        await ended(sent, "s-log")
        await conn.handle(search([1.0] * (db.dims or 0)))
    ours = [e for e in events if e["event"] in ("session_started", "vector_load_complete")]
    assert [e["event"] for e in ours] == ["session_started", "vector_load_complete"]
    assert all(e["session_id"] == "s-log" for e in ours)


async def test_a_stdlib_logger_receives_the_session_lines(
    make_hub: HubMaker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="test.sessions.stdlib")
    hub = make_hub(logger=logging.getLogger("test.sessions.stdlib"))
    conn, _ = connect(hub)
    await conn.handle({"type": "session_init", "session_id": "s-std"})
    lines = [r for r in caplog.records if r.name == "test.sessions.stdlib"]
    assert len(lines) == 1
    assert "session_started" in caplog.text
    assert "s-std" in caplog.text


async def test_a_handler_traceback_is_logged_without_frame_locals(
    make_hub: HubMaker, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # Whatever structlog configuration is active: the message's vectors are locals of the
    # failing handler's frames, and must not be printed with the traceback.
    caplog.set_level(logging.DEBUG)
    conn, sent = connect(make_hub(observer=FailingSearchObserver()))
    await conn.handle(upload([{"id": "m", "vector": [MARKER, 1.0]}]))
    await conn.handle(search([MARKER, 2.0]))
    trace_id = sent.last["message"].rsplit(" ", 1)[-1].rstrip(")")
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text
    assert trace_id in text
    assert "718281" not in text
