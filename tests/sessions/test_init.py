"""Session init (SPEC 2): acks, init error frames, encrypted inits, replacement ordering."""

from __future__ import annotations

from typing import Any

import pytest

from s5vec.crypto.secp256k1 import HostKey
from s5vec.formats.paths import chunk_path
from s5vec.sessions import SessionHub
from s5vec.storage.local import LocalStorage
from tests.loader.fakes import until
from tests.sessions.conftest import HubMaker
from tests.sessions.dbs import KEY, User, database, db_path, write
from tests.sessions.fakes import RecordingObserver, gated_memory_storage
from tests.sessions.helpers import (
    connect,
    encrypted_init,
    ended,
    plain_init,
    sealed_payload,
)


async def test_plain_init_without_database_is_acked(hub: SessionHub) -> None:
    conn, sent = connect(hub)
    await conn.handle(plain_init("s1", job_id=123, chain_id=84532, id="m1"))
    assert sent.frames == [
        {
            "type": "session_init_ack",
            "status": "success",
            "session_id": "s1",
            "job_id": 123,
            "chain_id": 84532,
            "message": "Session initialized",
            "id": "m1",
        }
    ]
    assert conn.session_id == "s1"
    assert conn.status == {"state": "not_started"}


async def test_job_and_chain_ids_are_echoed_as_received(hub: SessionHub) -> None:
    conn, sent = connect(hub)
    await conn.handle(plain_init("s1", job_id="0x7b", chain_id=84532.0))
    assert (sent.last["job_id"], sent.last["chain_id"]) == ("0x7b", 84532.0)
    await conn.handle(plain_init("s2"))
    assert (sent.last["job_id"], sent.last["chain_id"]) == (None, None)


async def test_plain_init_loads_the_database_after_the_ack(
    hub: SessionHub, storage: LocalStorage, user: User
) -> None:
    db = database(user.address)
    await write(storage, db.files())
    conn, sent = connect(hub)
    await conn.handle(plain_init("s1", db, id="m1"))
    assert sent.frames[0]["type"] == "session_init_ack"
    assert "client_address" not in sent.frames[0]
    done = await ended(sent, "s1")
    assert done["event"] == "loading_complete"
    assert done["vector_count"] == db.vector_count
    events = [p["event"] for p in sent.progress("s1")]
    assert events[0] == "manifest_downloaded"
    assert events.count("chunk_downloaded") == len(db.chunks)
    assert events[-1] == "loading_complete"
    assert all(f["session_id"] == "s1" for f in sent.of("vector_loading_progress"))
    assert conn.status == {
        "state": "loaded",
        "vector_count": db.vector_count,
        "load_time_ms": done["duration_ms"],
    }


async def test_ack_is_sent_before_any_storage_read(make_hub: HubMaker, user: User) -> None:
    db = database(user.address)
    storage = gated_memory_storage(db.files())
    gate = storage.hold(db.path)
    conn, sent = connect(make_hub(storage=storage))
    await conn.handle(plain_init("s1", db))
    # The ack went out while nothing had been read; the load then runs in the background.
    assert [f["type"] for f in sent.frames] == ["session_init_ack"]
    assert storage.inner.calls == []
    await until(lambda: db.path in storage.waiting)
    assert conn.status == {"state": "loading"}
    gate.set()
    assert (await ended(sent, "s1"))["event"] == "loading_complete"


async def test_encrypted_init_acks_with_client_address_and_loads_with_the_key(
    hub: SessionHub, storage: LocalStorage, host_key: HostKey, user: User
) -> None:
    db = database(user.address)
    await write(storage, db.files(key=KEY))
    conn, sent = connect(hub)
    payload = sealed_payload(host_key, user, key=KEY, db=db)
    await conn.handle(encrypted_init("e1", payload, chain_id=84532, id="m2"))
    assert sent.frames[0] == {
        "type": "session_init_ack",
        "status": "success",
        "session_id": "e1",
        "job_id": "42",
        "chain_id": 84532,
        "client_address": user.address,
        "message": sent.frames[0]["message"],
        "id": "m2",
    }
    assert (await ended(sent, "e1"))["vector_count"] == db.vector_count


@pytest.mark.parametrize("eip191", [False, True])
async def test_encrypted_init_without_database_still_carries_client_address(
    hub: SessionHub, host_key: HostKey, user: User, eip191: bool
) -> None:
    conn, sent = connect(hub)
    payload = sealed_payload(host_key, user, key=KEY, eip191=eip191)
    await conn.handle(encrypted_init("e1", payload, jobId=9))
    ack = sent.last
    assert ack["type"] == "session_init_ack"
    assert ack["job_id"] == 9  # the frame's own job id wins over the payload's
    assert "client_address" in ack
    if not eip191:
        assert ack["client_address"] == user.address
    assert sent.progress() == []


async def test_eip191_signed_init_naming_a_database_recovers_the_owner(
    hub: SessionHub, storage: LocalStorage, host_key: HostKey, user: User
) -> None:
    db = database(user.address)
    await write(storage, db.files(key=KEY))
    conn, sent = connect(hub)
    await conn.handle(
        encrypted_init("e1", sealed_payload(host_key, user, key=KEY, db=db, eip191=True))
    )
    assert sent.frames[0]["client_address"] == user.address
    assert (await ended(sent, "e1"))["event"] == "loading_complete"


async def test_intruder_signer_is_owner_mismatch(
    hub: SessionHub, storage: LocalStorage, host_key: HostKey, user: User
) -> None:
    db = database(user.address)
    await write(storage, db.files(key=KEY))
    conn, sent = connect(hub)
    intruder = User.new()
    await conn.handle(
        encrypted_init("e1", sealed_payload(host_key, intruder, key=KEY, db=db), id="x")
    )
    assert sent.frames == [
        {
            "type": "error",
            "code": "OWNER_MISMATCH",
            "message": sent.frames[0]["message"],
            "session_id": "e1",
            "id": "x",
        }
    ]
    assert conn.session_id is None


async def test_intruder_signer_is_accepted_when_signer_match_is_off(
    make_hub: HubMaker, storage: LocalStorage, host_key: HostKey, user: User
) -> None:
    db = database(user.address)
    await write(storage, db.files(key=KEY))
    conn, sent = connect(make_hub(require_signer_match=False))
    intruder = User.new()
    await conn.handle(encrypted_init("e1", sealed_payload(host_key, intruder, key=KEY, db=db)))
    assert sent.frames[0]["client_address"] == intruder.address
    assert (await ended(sent, "e1"))["event"] == "loading_complete"


BAD_CHECKSUM = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"
"""The EIP-55 example address with one letter's case flipped."""


def _tamper(payload: dict[str, str], **changes: str) -> dict[str, str]:
    return {**payload, **changes}


def _flip_last_byte(hex_text: str) -> str:
    body = bytearray.fromhex(hex_text.removeprefix("0x"))
    body[-1] ^= 1
    return "0x" + body.hex()


@pytest.mark.parametrize(
    ("make_payload", "code"),
    [
        (lambda p: None, "MISSING_PAYLOAD"),
        (lambda p: {}, "MISSING_PAYLOAD"),
        (lambda p: _tamper(p, nonceHex="0xzz"), "INVALID_HEX_ENCODING"),
        (lambda p: _tamper(p, nonceHex=p["nonceHex"][:26]), "INVALID_NONCE_SIZE"),
        (lambda p: _tamper(p, ephPubHex="0x05" + "11" * 32), "INVALID_PAYLOAD"),
        (lambda p: {"ciphertextHex": "00"}, "INVALID_PAYLOAD"),
        (
            lambda p: _tamper(p, ciphertextHex=_flip_last_byte(p["ciphertextHex"])),
            "DECRYPTION_FAILED",
        ),
    ],
)
async def test_payload_errors_are_error_frames_without_ack(
    hub: SessionHub, host_key: HostKey, user: User, make_payload: Any, code: str
) -> None:
    conn, sent = connect(hub)
    payload = make_payload(sealed_payload(host_key, user, key=KEY))
    message = encrypted_init("e1", payload, id="m")
    if payload is None:
        del message["payload"]
    await conn.handle(message)
    assert sent.frames == [
        {
            "type": "error",
            "code": code,
            "message": sent.frames[0]["message"],
            "session_id": "e1",
            "id": "m",
        }
    ]


async def test_plaintext_that_is_not_a_session_init_is_invalid_payload(
    hub: SessionHub, host_key: HostKey, user: User
) -> None:
    from s5vec.crypto.envelope import seal_session_init

    conn, sent = connect(hub)
    for plaintext in (b"not json", {"jobId": "1"}, {"sessionKey": "0x1234"}):
        payload = seal_session_init(plaintext, host_key.public_key_compressed, user.private_key)
        await conn.handle(encrypted_init("e1", payload))
        assert sent.last["code"] == "INVALID_PAYLOAD"
    assert sent.of("session_init_ack") == []


async def test_encrypted_init_without_host_key_is_encryption_not_supported(
    make_hub: HubMaker, host_key: HostKey, user: User
) -> None:
    conn, sent = connect(make_hub(host_key=None))
    await conn.handle(encrypted_init("e1", sealed_payload(host_key, user, key=KEY), id="n"))
    assert sent.frames == [
        {
            "type": "error",
            "code": "ENCRYPTION_NOT_SUPPORTED",
            "message": sent.frames[0]["message"],
            "session_id": "e1",
            "id": "n",
        }
    ]


@pytest.mark.parametrize(
    ("path", "address", "code"),
    [
        ("home/vector-databases/{a}/../manifest.json", "{a}", "INVALID_PATH"),
        ("home/vector-databases/{a}/docs/other.json", "{a}", "INVALID_PATH"),
        ("home/vector-databases/0x1234/docs/manifest.json", "{a}", "INVALID_PATH"),
        ("home/vector-databases/{a}//manifest.json", "{a}", "INVALID_PATH"),
        ("home/vector-databases/{a}/docs/manifest.json", "0x1234", "INVALID_ADDRESS"),
        ("home/vector-databases/{a}/docs/manifest.json", "{bad_checksum}", "INVALID_ADDRESS"),
        ("home/vector-databases/{a}/docs/manifest.json", "{other}", "OWNER_MISMATCH"),
    ],
)
async def test_path_and_address_errors_are_error_frames_and_start_no_load(
    make_hub: HubMaker, user: User, path: str, address: str, code: str
) -> None:
    storage = gated_memory_storage()
    conn, sent = connect(make_hub(storage=storage))
    names = {"a": user.address, "other": User.new().address, "bad_checksum": BAD_CHECKSUM}
    message = {
        "type": "session_init",
        "sessionId": "s1",
        "id": 4,
        "vectorDatabase": {
            "manifestPath": path.format(**names),
            "userAddress": address.format(**names),
        },
    }
    await conn.handle(message)
    assert sent.frames == [
        {
            "type": "error",
            "code": code,
            "message": sent.frames[0]["message"],
            "session_id": "s1",
            "id": 4,
        }
    ]
    assert storage.inner.calls == []
    assert user.address not in sent.frames[0]["message"]


async def test_encrypted_init_path_comes_from_the_payload_and_is_validated(
    hub: SessionHub, host_key: HostKey, user: User
) -> None:
    conn, sent = connect(hub)
    bad = {"manifestPath": db_path(user.address, "..x"), "userAddress": user.address}
    payload = sealed_payload(host_key, user, key=KEY, vectorDatabase=bad)
    await conn.handle(encrypted_init("e1", payload))
    assert sent.last["code"] == "INVALID_PATH"


async def test_second_init_cancels_the_first_load_before_the_new_ack(
    make_hub: HubMaker, user: User, observer: RecordingObserver
) -> None:
    first, second = database(user.address, name="one"), database(user.address, name="two")
    storage = gated_memory_storage({**first.files(), **second.files()})
    held = chunk_path(first.path, 0)
    storage.hold(held)
    hub = make_hub(storage=storage)
    conn, sent = connect(hub)
    await conn.handle(plain_init("old", first))
    await until(lambda: held in storage.waiting)
    await conn.handle(plain_init("new", second, id="m2"))
    kinds = [(f["type"], f.get("session_id")) for f in sent.frames]
    new_ack = kinds.index(("session_init_ack", "new"))
    assert kinds[0] == ("session_init_ack", "old")
    assert kinds[new_ack - 1] == ("vector_loading_progress", "old")
    cancelled = sent.frames[new_ack - 1]["payload"]
    assert cancelled["event"] == "loading_error"
    assert cancelled["error_code"] == "CANCELLED"
    assert ("vector_loading_progress", "old") not in kinds[new_ack:]
    assert sent.terminal("old") == [cancelled]
    assert storage.cancelled == [held]  # the old load was cancelled, not left running
    assert (await ended(sent, "new"))["event"] == "loading_complete"
    assert hub.active_sessions == 1
    assert observer.active == 1


async def test_second_init_after_a_finished_load_sends_no_cancelled(
    hub: SessionHub, storage: LocalStorage, user: User
) -> None:
    db = database(user.address)
    await write(storage, db.files())
    conn, sent = connect(hub)
    await conn.handle(plain_init("old", db))
    await ended(sent, "old")
    count = len(sent.frames)
    await conn.handle(plain_init("new"))
    assert [f["type"] for f in sent.frames[count:]] == ["session_init_ack"]
    assert len(sent.terminal("old")) == 1


async def test_a_failed_second_init_keeps_the_first_session(
    hub: SessionHub, storage: LocalStorage, user: User
) -> None:
    db = database(user.address)
    await write(storage, db.files())
    conn, sent = connect(hub)
    await conn.handle(plain_init("s1", db))
    await ended(sent, "s1")
    await conn.handle(plain_init("s2", vector_database={"manifest_path": "x", "user_address": "y"}))
    assert sent.last["code"] == "INVALID_PATH"
    assert conn.session_id == "s1"
    assert conn.status["state"] == "loaded"
