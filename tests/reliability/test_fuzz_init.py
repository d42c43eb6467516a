"""Hostile session inits (SPEC section 2): paths, addresses, ids and encrypted payloads.

Every init gets the code the SPEC names (``error`` frame, no ack, no load) or an ack; a path
can never reach a file outside its owner's directory: the store only ever sees a GET for the
literal manifest path of an acknowledged init, and nothing under the attacker's directory
exists, so a ``loading_complete`` would mean a path led somewhere else.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from s5vec.crypto.envelope import seal_session_init
from s5vec.crypto.secp256k1 import generate_private_key, public_key_from_private
from tests.reliability.fuzzing import FUZZ, SOAK, Target, error_code, host_view
from tests.reliability.harness import HOST_KEY, load_bound_s, soak
from tests.reliability.hostile import (
    ACK,
    UNICODE_TRICKS,
    addresses,
    as_float,
    as_received,
    hostile_values,
    init_codes,
    is_number,
    json_values,
    manifest_paths,
)
from tests.reliability.wire import Frame, Peer
from tests.server.helpers import OWNER, OWNER_KEY, SESSION_KEY

ATTACKER = OWNER
LOAD_ERRORS_OF_A_MISSING_DATABASE = {"MANIFEST_NOT_FOUND", "MANIFEST_DOWNLOAD_FAILED"}
"""An acknowledged init names nothing that exists: not found, or refused by the store."""

# Echoed fields (session_id, job_id, chain_id) nest at most a few levels here: a value
# nested past 200 levels is refused with INVALID_MESSAGE, see test_hostile_nesting.py.
session_ids = st.one_of(st.text(min_size=1, max_size=40), UNICODE_TRICKS, json_values)
echoed = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    json_values,
)


def echo_ok(sent: Any, got: Any) -> bool:
    """``job_id`` / ``chain_id`` echoed as received (numbers compared as the doubles JSON
    parsers make of them)."""
    if is_number(sent):
        return is_number(got) and as_float(sent) == as_float(got)
    return bool(sent == got)


async def check_init(
    target: Target, message: Frame, allowed: set[str], path: Any
) -> tuple[Frame, Peer]:
    """Send ``message``; check its reply is ``allowed`` (codes, or ``ACK``), and that the store
    saw no GET but the literal path of an acknowledged database init."""
    if host_view(message) is ...:  # e.g. an integer past float64: not JSON to the host
        allowed = {"INVALID_MESSAGE"}
    start = len(target.store.hits)
    reply, p = await target.exchange(message)
    code = error_code(reply)
    assert (code or reply["type"]) != "INTERNAL_ERROR", reply
    if code is None:
        assert reply["type"] == "session_init_ack", reply
        assert ACK in allowed, (reply, allowed)
    else:
        assert code in allowed, (reply, allowed)
        assert "session_init_ack" not in {f["type"] for f in p.seen}  # no session, no load
    if code is None and path is not None:
        end = await p.outcome(reply["session_id"], wait_s=load_bound_s())
        assert end["event"] == "loading_error", end  # nothing exists under that path
        assert end["error_code"] in LOAD_ERRORS_OF_A_MISSING_DATABASE, end
        assert len(p.terminals(reply["session_id"])) == 1
    fetched = {hit.key for hit in target.store.hits[start:]}
    assert fetched <= ({path} if code is None and path is not None else set()), fetched
    return reply, p


@st.composite
def plain_inits(draw: st.DrawFn) -> tuple[Frame, set[str], str | None]:
    """A ``session_init`` with hostile fields, the codes it may get, the path it names."""
    path = draw(st.one_of(manifest_paths(ATTACKER), manifest_paths(ATTACKER.lower())))
    address = draw(st.one_of(st.just(ATTACKER), addresses()))
    message: Frame = {"type": "session_init"}
    # Mostly well-typed fields, so that most cases reach the path and address rules.
    mostly = st.sampled_from([True, True, True, False])
    session_id = "s" if draw(mostly) else draw(session_ids)
    message[draw(st.sampled_from(["session_id", "sessionId"]))] = session_id
    for key in ("job_id", "chain_id"):
        if not draw(mostly):
            message[key] = draw(echoed)
    database: Any = {"manifest_path": path, "user_address": address}
    if draw(st.booleans()):
        database = {"manifestPath": path, "userAddress": address}
    if not draw(mostly):
        database = draw(st.one_of(st.none(), hostile_values))
    message[draw(st.sampled_from(["vector_database", "vectorDatabase"]))] = database
    received = as_received(message)
    sid = received.get("session_id", received.get("sessionId"))
    db = received.get("vector_database", received.get("vectorDatabase"))
    allowed = {ACK}
    named = None
    if isinstance(db, dict):
        named = db.get("manifest_path", db.get("manifestPath"))
        address = db.get("user_address", db.get("userAddress"))
        if isinstance(named, str) and isinstance(address, str):
            allowed = init_codes(named, address)
        else:  # a missing or ill-typed field
            allowed = {"INVALID_MESSAGE", "INVALID_PATH", "INVALID_ADDRESS"}
    elif db is not None:
        allowed = {"INVALID_MESSAGE"}
    echoes = [received.get(k) for k in ("job_id", "chain_id")]
    if not isinstance(sid, str) or not all(
        is_number(v) or isinstance(v, str | None) for v in echoes
    ):
        allowed = {"INVALID_MESSAGE"} | (allowed - {ACK})
    elif not sid or len(sid) > 256:  # the SPEC sets no bound; the host may set one
        allowed = allowed | {"INVALID_MESSAGE"}
    return message, allowed, named if isinstance(named, str) else None


async def _plain(target: Target, case: tuple[Frame, set[str], str | None]) -> None:
    message, allowed, path = case
    reply, p = await check_init(target, message, allowed, path)
    if reply["type"] == "session_init_ack":
        for key in ("job_id", "chain_id"):
            assert echo_ok(message.get(key), reply.get(key)), (message, reply)
    await target.probe(p)


@FUZZ
@given(case=plain_inits())
async def test_plain_init_gets_its_documented_reply(target: Target, case: Any) -> None:
    await _plain(target, case)


@soak
@SOAK
@given(case=plain_inits())
async def test_plain_init_gets_its_documented_reply_soak(target: Target, case: Any) -> None:
    await _plain(target, case)


# --- encrypted_session_init ---------------------------------------------------------------

HOST_PUBLIC = public_key_from_private(HOST_KEY)
HEX_FIELDS = ("ephPubHex", "ciphertextHex", "nonceHex", "signatureHex")
PAYLOAD_CODES = {
    "MISSING_PAYLOAD",
    "INVALID_HEX_ENCODING",
    "INVALID_NONCE_SIZE",
    "INVALID_PAYLOAD",
    "DECRYPTION_FAILED",
}


def plaintext(path: str | None = None, address: str | None = None, **extra: Any) -> Frame:
    """A camelCase init plaintext holding the test session key (and a database)."""
    body: Frame = {"jobId": "9", "sessionKey": "0x" + SESSION_KEY.hex(), **extra}
    if path is not None:
        body["vectorDatabase"] = {"manifestPath": path, "userAddress": address}
    return body


def sealed(body: Frame | bytes, signer: bytes = OWNER_KEY, **options: Any) -> dict[str, str]:
    """``body`` sealed to the host and signed by ``signer`` (a map as JSON would carry it:
    surrogate pairs joined)."""
    plaintext = body if isinstance(body, bytes) else as_received(body)
    return seal_session_init(plaintext, HOST_PUBLIC, signer, **options)


def swap(payload: dict[str, str], field: str, value: Any) -> dict[str, Any]:
    """``payload`` with ``field`` replaced."""
    return {**payload, field: value}


def hex_bytes(payload: dict[str, str], field: str) -> bytes:
    """A payload field's bytes."""
    return bytes.fromhex(payload[field].removeprefix("0x"))


@st.composite
def encrypted_inits(draw: st.DrawFn) -> tuple[Frame, set[str], str | None]:
    """An ``encrypted_session_init`` broken in one named way, and the codes it may get."""
    path = f"home/vector-databases/{ATTACKER}/missing/manifest.json"
    good = sealed(plaintext(path, ATTACKER))
    kind = draw(
        st.sampled_from(
            [
                "valid",
                "valid-no-database",
                "absent",
                "null",
                "empty",
                "not-object",
                "field-missing",
                "field-ill-typed",
                "not-hex",
                "odd-hex",
                "nonce-size",
                "eph-garbage",
                "ciphertext-flip",
                "ciphertext-short",
                "aad-changed",
                "signature-garbage",
                "signature-length",
                "signature-v",
                "plaintext-not-json",
                "plaintext-other-json",
                "session-key-bad",
                "wrong-signer",
                "hostile-database",
            ]
        )
    )
    payload: Any = good
    codes = {ACK}
    named: str | None = None
    if kind == "valid":
        named = path
    elif kind == "valid-no-database":
        payload = sealed(plaintext(), signer=generate_private_key())
    elif kind in ("absent", "null", "empty"):
        payload = {"absent": ..., "null": None, "empty": {}}[kind]
        codes = {"MISSING_PAYLOAD"}
    elif kind == "not-object":
        payload = draw(
            st.one_of(st.text(min_size=1), st.lists(json_values, min_size=1), st.integers())
        )
        codes = {"MISSING_PAYLOAD", "INVALID_PAYLOAD"}
    elif kind == "field-missing":
        dropped = draw(st.sampled_from(HEX_FIELDS))
        payload = {k: v for k, v in good.items() if k != dropped}
        codes = {"MISSING_PAYLOAD", "INVALID_PAYLOAD", "INVALID_HEX_ENCODING"}
    elif kind == "field-ill-typed":
        field = draw(st.sampled_from([*HEX_FIELDS, "aadHex"]))
        value = draw(hostile_values.filter(lambda v: not isinstance(v, str | None)))
        payload, codes = swap(good, field, value), {"INVALID_PAYLOAD", "INVALID_HEX_ENCODING"}
    elif kind in ("not-hex", "odd-hex"):
        field = draw(st.sampled_from([*HEX_FIELDS, "aadHex"]))
        junk = draw(
            st.text(min_size=1, max_size=10).filter(
                lambda t: any(c not in "0123456789abcdefABCDEFx" for c in t)
            )
        )
        value = good[field] + ("0" if kind == "odd-hex" else junk) if field != "aadHex" else junk
        payload, codes = swap(good, field, value), {"INVALID_HEX_ENCODING"}
    elif kind == "nonce-size":
        size = draw(st.integers(0, 64).filter(lambda n: n != 24))
        payload, codes = swap(good, "nonceHex", "0x" + "ab" * size), {"INVALID_NONCE_SIZE"}
    elif kind == "eph-garbage":
        eph = draw(st.binary(min_size=0, max_size=70))
        payload = swap(good, "ephPubHex", eph.hex())
        codes = {"INVALID_PAYLOAD", "DECRYPTION_FAILED"}
    elif kind == "ciphertext-flip":
        data = bytearray(hex_bytes(good, "ciphertextHex"))
        at = draw(st.integers(0, len(data) - 1))
        data[at] ^= draw(st.integers(1, 255))
        payload, codes = swap(good, "ciphertextHex", data.hex()), {"DECRYPTION_FAILED"}
    elif kind == "ciphertext-short":
        short = draw(st.binary(max_size=15))
        payload, codes = swap(good, "ciphertextHex", short.hex()), {"DECRYPTION_FAILED"}
    elif kind == "aad-changed":
        payload, codes = (
            swap(good, "aadHex", draw(st.binary(min_size=1, max_size=8)).hex()),
            {"DECRYPTION_FAILED"},
        )
    elif kind == "signature-garbage":
        payload = swap(good, "signatureHex", draw(st.binary(min_size=65, max_size=65)).hex())
        codes = {"INVALID_PAYLOAD", "OWNER_MISMATCH"}
    elif kind == "signature-length":
        size = draw(st.integers(0, 100).filter(lambda n: n != 65))
        payload, codes = swap(good, "signatureHex", "11" * size), {"INVALID_PAYLOAD"}
    elif kind == "signature-v":
        signature = bytearray(hex_bytes(good, "signatureHex"))
        signature[64] = draw(st.integers(0, 255).filter(lambda v: v not in (0, 1, 27, 28)))
        payload, codes = swap(good, "signatureHex", signature.hex()), {"INVALID_PAYLOAD"}
    elif kind == "plaintext-not-json":
        payload = sealed(draw(st.binary(max_size=40).filter(lambda b: not _is_json_object(b))))
        codes = {"INVALID_PAYLOAD"}
    elif kind == "plaintext-other-json":
        body = draw(st.one_of(json_values, st.dictionaries(st.text(max_size=8), hostile_values)))
        payload = sealed(json.dumps(body).encode())
        codes = {"INVALID_PAYLOAD"}
    elif kind == "session-key-bad":
        key = draw(
            st.one_of(
                st.text(max_size=70),
                hostile_values,
                st.binary(max_size=40).map(lambda b: "0x" + b.hex()),
            )
        )
        if isinstance(key, str) and len(key.removeprefix("0x")) == 64:
            key = key + "0"
        payload = sealed({**plaintext(path, ATTACKER), "sessionKey": key})
        codes = {"INVALID_PAYLOAD"}
    elif kind == "wrong-signer":
        payload = sealed(plaintext(path, ATTACKER), signer=generate_private_key())
        codes = {"OWNER_MISMATCH"}
    else:  # hostile-database: a checked path and address inside the encrypted payload
        hostile_path = as_received(draw(manifest_paths(ATTACKER)))
        address = as_received(draw(st.one_of(st.just(ATTACKER), addresses())))
        payload = sealed(plaintext(hostile_path, address))
        codes = signed_database_codes(hostile_path, address)
        named = hostile_path
    message: Frame = {"type": "encrypted_session_init", "session_id": "e"}
    if payload is not ...:
        message["payload"] = payload
    return message, codes, named


def signed_database_codes(path: str, address: Any) -> set[str]:
    """Outcomes of an encrypted init signed by the attacker naming (``path``, ``address``):
    SPEC 2.3's path and address rules plus 2.2's signer rule."""
    if not isinstance(address, str):
        return {"INVALID_PAYLOAD", "INVALID_ADDRESS"}
    codes = init_codes(path, address)
    if address.lower() == ATTACKER.lower():
        return codes
    return (codes - {ACK}) | {"OWNER_MISMATCH"}


def _is_json_object(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data), dict)
    except (ValueError, UnicodeDecodeError):
        return False


async def _encrypted(target: Target, case: tuple[Frame, set[str], str | None]) -> None:
    message, allowed, path = case
    reply, p = await check_init(target, message, allowed, path)
    if reply["type"] == "session_init_ack":
        assert isinstance(reply.get("client_address"), str), reply
        if path is not None:
            assert reply["client_address"].lower() == ATTACKER.lower()
    assert SESSION_KEY.hex() not in json.dumps(p.seen)
    await target.probe(p)


@FUZZ
@given(case=encrypted_inits())
async def test_encrypted_init_gets_its_documented_reply(target: Target, case: Any) -> None:
    await _encrypted(target, case)


@soak
@SOAK
@given(case=encrypted_inits())
async def test_encrypted_init_gets_its_documented_reply_soak(target: Target, case: Any) -> None:
    await _encrypted(target, case)
