"""encrypted_session_init: seal -> open round trips, the signer rule, and every error code."""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s5vec.crypto.envelope import SessionInit, open_session_init, seal_session_init
from s5vec.crypto.ethereum import address_from_public_key
from s5vec.crypto.secp256k1 import HostKey, public_key_from_private
from s5vec.errors import (
    DecryptionFailed,
    InitPayloadError,
    InvalidAddress,
    InvalidHexEncoding,
    InvalidNonceSize,
    InvalidPayload,
    MissingPayload,
    OwnerMismatch,
    S5VecError,
)

HOST = HostKey.from_hex("0x" + "11" * 32)
HOST_SECRET_HEX = "11" * 32
USER_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
USER_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
INTRUDER_KEY = bytes([0x22]) * 32
INTRUDER_ADDRESS = address_from_public_key(public_key_from_private(INTRUDER_KEY))
SESSION_KEY = bytes(range(0xA0, 0xC0))
MANIFEST = f"home/vector-databases/{USER_ADDRESS}/my-docs/manifest.json"


def _plaintext(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "jobId": "123",
        "modelName": "llama",
        "sessionKey": "0x" + SESSION_KEY.hex(),
        "pricePerToken": 2000,
        "vectorDatabase": {"manifestPath": MANIFEST, "userAddress": USER_ADDRESS},
        "recoveryPublicKey": "0x02" + "ab" * 32,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def _seal(plaintext: dict[str, Any] | bytes | None = None, **kwargs: Any) -> dict[str, str]:
    body = _plaintext() if plaintext is None else plaintext
    kwargs.setdefault("signer_private_key", USER_KEY)
    return seal_session_init(body, HOST.public_key_compressed, **kwargs)


def _flip(hex_text: str, index: int) -> str:
    raw = bytearray.fromhex(hex_text.removeprefix("0x"))
    raw[index] ^= 0x01
    return raw.hex()


@pytest.mark.parametrize("eip191", [False, True])
@pytest.mark.parametrize("v_base", [0, 27])
def test_round_trip_with_every_signature_form_and_v_encoding(eip191: bool, v_base: int) -> None:
    payload = _seal(eip191=eip191, v_base=v_base)
    assert int(payload["signatureHex"][-2:], 16) in (v_base, v_base + 1)
    opened = open_session_init(payload, HOST)
    assert opened.client_address == USER_ADDRESS
    assert opened.session_key == SESSION_KEY
    assert opened.job_id == "123"
    assert opened.model_name == "llama"
    assert opened.price_per_token == 2000
    assert opened.vector_database is not None
    assert opened.vector_database.manifest_path == MANIFEST
    assert opened.vector_database.user_address == USER_ADDRESS
    assert opened.recovery_public_key == "0x02" + "ab" * 32


@pytest.mark.parametrize("spelling", [USER_ADDRESS.lower(), "0x" + USER_ADDRESS[2:].upper()])
def test_user_address_matches_the_signer_in_any_case(spelling: str) -> None:
    body = _plaintext(vectorDatabase={"manifestPath": MANIFEST, "userAddress": spelling})
    assert open_session_init(_seal(body, eip191=True), HOST).client_address == USER_ADDRESS


def test_without_a_database_the_raw_digest_signer_is_the_client() -> None:
    body = _plaintext(vectorDatabase=None, recoveryPublicKey=None, jobId=7)
    opened = open_session_init(_seal(body), HOST)
    assert opened.client_address == USER_ADDRESS
    assert opened.vector_database is None
    assert opened.recovery_public_key is None
    assert opened.job_id == 7


def test_without_a_database_an_eip191_signature_yields_the_raw_digest_address() -> None:
    # SPEC 2.2: with nothing to compare against, the address recovered from d itself is used.
    opened = open_session_init(_seal(_plaintext(vectorDatabase=None), eip191=True), HOST)
    assert opened.client_address != USER_ADDRESS
    assert opened.client_address.startswith("0x")
    assert len(opened.client_address) == 42


@pytest.mark.parametrize("eip191", [False, True])
def test_intruder_claiming_another_users_database_is_an_owner_mismatch(eip191: bool) -> None:
    payload = _seal(signer_private_key=INTRUDER_KEY, eip191=eip191)
    with pytest.raises(OwnerMismatch):
        open_session_init(payload, HOST)


def test_signer_check_can_be_disabled_and_then_reports_the_raw_digest_signer() -> None:
    payload = _seal(signer_private_key=INTRUDER_KEY)
    opened = open_session_init(payload, HOST, require_signer_match=False)
    assert opened.client_address == INTRUDER_ADDRESS


def test_mixed_case_user_address_with_a_bad_checksum_is_invalid() -> None:
    first_letter = next(i for i, c in enumerate(USER_ADDRESS) if i > 1 and c.isalpha())
    bad = USER_ADDRESS[:first_letter] + USER_ADDRESS[first_letter].swapcase()
    bad += USER_ADDRESS[first_letter + 1 :]
    body = _plaintext(vectorDatabase={"manifestPath": MANIFEST, "userAddress": bad})
    with pytest.raises(InvalidAddress):
        open_session_init(_seal(body), HOST)


def test_aad_is_authenticated() -> None:
    payload = _seal(aad=b"context")
    assert open_session_init(payload, HOST).session_key == SESSION_KEY
    for aad_hex in ("", b"other".hex(), _flip(payload["aadHex"], 0)):
        with pytest.raises(DecryptionFailed):
            open_session_init({**payload, "aadHex": aad_hex}, HOST)
    without = {k: v for k, v in payload.items() if k != "aadHex"}
    with pytest.raises(DecryptionFailed):
        open_session_init(without, HOST)


def test_any_flipped_ciphertext_or_nonce_byte_fails_decryption() -> None:
    payload = _seal()
    ciphertext_len = len(payload["ciphertextHex"]) // 2 - 1
    for index in (0, ciphertext_len // 2, ciphertext_len - 16, ciphertext_len - 1):
        with pytest.raises(DecryptionFailed):
            open_session_init(
                {**payload, "ciphertextHex": _flip(payload["ciphertextHex"], index)}, HOST
            )
    for index in range(24):
        with pytest.raises(DecryptionFailed):
            open_session_init({**payload, "nonceHex": _flip(payload["nonceHex"], index)}, HOST)


def test_wrong_host_key_fails_decryption() -> None:
    with pytest.raises(DecryptionFailed):
        open_session_init(_seal(), HostKey.generate())


def test_a_ciphertext_shorter_than_the_tag_fails_decryption() -> None:
    with pytest.raises(DecryptionFailed):
        open_session_init({**_seal(), "ciphertextHex": "00" * 15}, HOST)


@pytest.mark.parametrize("payload", [None, {}, [], "payload", 42])
def test_absent_payload_is_missing_payload(payload: object) -> None:
    with pytest.raises(MissingPayload):
        open_session_init(payload, HOST)


@pytest.mark.parametrize("field", ["ephPubHex", "ciphertextHex", "nonceHex", "signatureHex"])
def test_a_missing_or_non_string_field_is_an_invalid_payload(field: str) -> None:
    payload = _seal()
    with pytest.raises(InvalidPayload, match=field):
        open_session_init({k: v for k, v in payload.items() if k != field}, HOST)
    with pytest.raises(InvalidPayload, match=field):
        open_session_init({**payload, field: 12}, HOST)


@pytest.mark.parametrize(
    "field", ["ephPubHex", "ciphertextHex", "nonceHex", "signatureHex", "aadHex"]
)
@pytest.mark.parametrize("garbage", ["0xabc", "zz", "ab cd", "0x0x00", "\uff10\uff10", "ab\n"])
def test_non_hex_fields_are_invalid_hex_encoding(field: str, garbage: str) -> None:
    with pytest.raises(InvalidHexEncoding, match=field):
        open_session_init({**_seal(), field: garbage}, HOST)


@pytest.mark.parametrize("size", [0, 12, 23, 25, 32])
def test_a_nonce_that_is_not_24_bytes_is_invalid_nonce_size(size: int) -> None:
    with pytest.raises(InvalidNonceSize):
        open_session_init({**_seal(), "nonceHex": "00" * size}, HOST)


@pytest.mark.parametrize(
    "eph_pub",
    ["", "02" + "00" * 31, "04" + "00" * 64, "06" + "00" * 64, "05" + "11" * 32],
)
def test_an_invalid_ephemeral_key_is_an_invalid_payload(eph_pub: str) -> None:
    with pytest.raises(InvalidPayload):
        open_session_init({**_seal(), "ephPubHex": eph_pub}, HOST)


@pytest.mark.parametrize("v", [2, 26, 29, 255])
def test_a_signature_with_another_v_is_an_invalid_payload(v: int) -> None:
    payload = _seal()
    signature = payload["signatureHex"][:-2] + f"{v:02x}"
    with pytest.raises(InvalidPayload):
        open_session_init({**payload, "signatureHex": signature}, HOST)


def test_a_short_signature_is_an_invalid_payload() -> None:
    payload = _seal()
    with pytest.raises(InvalidPayload):
        open_session_init({**payload, "signatureHex": payload["signatureHex"][:-2]}, HOST)


@pytest.mark.parametrize(
    "plaintext",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"jobId": "1"}',  # no sessionKey
        b'{"sessionKey": 5}',
        b'{"sessionKey": "0x1234"}',
        b'{"sessionKey": "0x' + b"zz" * 32 + b'"}',
        b'{"sessionKey": "0x' + b"00" * 33 + b'"}',
        b'{"sessionKey": "0x' + b"00" * 32 + b'", "pricePerToken": [1]}',
        b'{"sessionKey": "0x' + b"00" * 32 + b'", "jobId": true}',
        b'{"sessionKey": "0x' + b"00" * 32 + b'", "vectorDatabase": {"manifestPath": "x"}}',
    ],
)
def test_a_plaintext_that_is_not_a_session_init_is_an_invalid_payload(plaintext: bytes) -> None:
    with pytest.raises(InvalidPayload):
        open_session_init(_seal(plaintext), HOST)


def test_session_key_without_prefix_and_unknown_fields_are_accepted() -> None:
    body = _plaintext(sessionKey=SESSION_KEY.hex().upper(), futureField={"x": 1})
    assert open_session_init(_seal(body), HOST).session_key == SESSION_KEY


def test_only_the_session_key_is_required() -> None:
    body = {"sessionKey": "0x" + SESSION_KEY.hex()}
    opened = open_session_init(_seal(body), HOST)
    assert (opened.job_id, opened.model_name, opened.price_per_token) == (None, None, None)


def test_secrets_never_appear_in_reprs_or_error_messages() -> None:
    opened = open_session_init(_seal(), HOST)
    assert isinstance(opened, SessionInit)
    for text in (repr(opened), str(opened)):
        assert SESSION_KEY.hex() not in text.lower()
        assert str(SESSION_KEY) not in text
    payload = _seal()
    failures: list[tuple[dict[str, Any] | None, HostKey]] = [
        (_seal(signer_private_key=INTRUDER_KEY), HOST),
        (payload, HostKey.generate()),
        ({**payload, "nonceHex": "00" * 24}, HOST),
        (_seal(b'{"sessionKey": "0x' + SESSION_KEY.hex().encode() + b'", "jobId": 1.5}'), HOST),
        (_seal(b'{"sessionKey": "0x' + SESSION_KEY.hex().encode() + b'"'), HOST),
        (_seal(b'{"sessionKey": "' + SESSION_KEY.hex().encode() + b'00"}'), HOST),
        ({**payload, "signatureHex": "00" * 65}, HOST),
        ({**payload, "ephPubHex": "zz"}, HOST),
    ]
    for bad, host in failures:
        with pytest.raises(S5VecError) as info:
            open_session_init(bad, host)
        message = str(info.value) + repr(info.value) + str(info.value.to_wire())
        assert SESSION_KEY.hex() not in message.lower()
        assert HOST_SECRET_HEX not in message.lower()
        assert info.value.security


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(
    session_key=st.binary(min_size=32, max_size=32),
    job_id=st.one_of(st.text(max_size=20), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    model=st.text(max_size=40),
    aad=st.binary(max_size=64),
    eip191=st.booleans(),
    v_base=st.sampled_from([0, 27]),
    with_database=st.booleans(),
)
def test_round_trip_any_content(
    session_key: bytes,
    job_id: str | int,
    model: str,
    aad: bytes,
    eip191: bool,
    v_base: int,
    with_database: bool,
) -> None:
    body = _plaintext(sessionKey=session_key.hex(), jobId=job_id, modelName=model)
    if not with_database:
        body.pop("vectorDatabase")
    opened = open_session_init(_seal(body, eip191=eip191, v_base=v_base, aad=aad), HOST)
    assert opened.session_key == session_key
    assert opened.job_id == job_id
    assert opened.model_name == model
    if with_database or not eip191:
        assert opened.client_address == USER_ADDRESS


payload_values = st.one_of(st.text(max_size=80), st.integers(), st.none(), st.binary(max_size=8))


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.sampled_from(["ephPubHex", "ciphertextHex", "nonceHex", "signatureHex", "aadHex", "x"]),
        payload_values,
    )
)
def test_garbage_payloads_raise_only_init_errors(payload: dict[str, object]) -> None:
    with pytest.raises((InitPayloadError, DecryptionFailed)):
        open_session_init(payload, HOST)


@settings(max_examples=100)
@given(index=st.integers(min_value=0), eip191=st.booleans())
def test_any_single_bit_ciphertext_tamper_is_rejected(index: int, eip191: bool) -> None:
    payload = _seal(eip191=eip191)
    length = len(payload["ciphertextHex"]) // 2 - 1
    tampered = {**payload, "ciphertextHex": _flip(payload["ciphertextHex"], index % length)}
    with pytest.raises(DecryptionFailed):
        open_session_init(tampered, HOST)


def test_seal_refuses_an_unknown_v_base() -> None:
    with pytest.raises(ValueError, match="v_base"):
        _seal(v_base=1)
