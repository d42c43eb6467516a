"""secp256k1: point parsing, raw-x ECDH, recoverable signatures and the HostKey wrapper."""

import pytest
from coincurve import PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from s5vec.crypto.ethereum import address_from_public_key, keccak256
from s5vec.crypto.secp256k1 import (
    HostKey,
    ecdh_x,
    parse_public_key,
    public_key_from_private,
    recover_public_key,
    sign_recoverable,
    uncompressed_public_key,
)
from s5vec.errors import InvalidPayload

ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
G_X = G[1:]
TWO_G_X = bytes.fromhex("c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5")
WEB3_DOC_KEY_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
WEB3_DOC_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
# web3.eth.accounts.sign("Some data", WEB3_DOC_KEY): EIP-191 hash and signature (v = 28).
SOME_DATA_HASH = keccak256(b"\x19Ethereum Signed Message:\n9Some data")
SOME_DATA_SIGNATURE = bytes.fromhex(
    "b91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd"
    "6007e74cd82e037b800186422fc2da167c747ef045e5d18a5f5d4300f8e1a0291c"
)

private_keys = st.integers(min_value=1, max_value=ORDER - 1).map(lambda n: n.to_bytes(32, "big"))


def _scalar(n: int) -> bytes:
    return n.to_bytes(32, "big")


def test_ecdh_x_is_the_raw_x_coordinate_not_a_hash() -> None:
    assert ecdh_x(_scalar(1), G) == G_X
    assert ecdh_x(_scalar(2), G) == TWO_G_X
    # coincurve's own ecdh hashes the point: the spec needs the raw coordinate instead.
    assert ecdh_x(_scalar(2), G) != PrivateKey(_scalar(2)).ecdh(G)


def test_ecdh_x_takes_compressed_and_uncompressed_points() -> None:
    assert ecdh_x(_scalar(2), uncompressed_public_key(G)) == TWO_G_X


@given(private_keys, private_keys)
def test_ecdh_x_agrees_from_both_sides(a: bytes, b: bytes) -> None:
    shared = ecdh_x(a, public_key_from_private(b))
    assert shared == ecdh_x(b, public_key_from_private(a, compressed=False))
    assert len(shared) == 32


@pytest.mark.parametrize(
    "point",
    [
        b"",
        G[1:],  # 32 bytes, no prefix
        b"\x04" + G[1:],  # 33 bytes with the uncompressed prefix
        b"\x06" + uncompressed_public_key(G)[1:],  # hybrid encoding
        b"\x04" + G_X + bytes(32),  # not on the curve
        bytes(33),
        bytes(65),
        uncompressed_public_key(G)[:64],
    ],
)
def test_malformed_points_are_invalid_payloads(point: bytes) -> None:
    with pytest.raises(InvalidPayload):
        parse_public_key(point)
    with pytest.raises(InvalidPayload):
        ecdh_x(_scalar(2), point)


def test_recovery_matches_the_web3_documentation_signature() -> None:
    recovered = recover_public_key(SOME_DATA_SIGNATURE, SOME_DATA_HASH)
    assert address_from_public_key(recovered) == WEB3_DOC_ADDRESS


def test_signing_is_deterministic_rfc6979_like_web3() -> None:
    signature = sign_recoverable(bytes.fromhex(WEB3_DOC_KEY_HEX), SOME_DATA_HASH)
    assert signature[:64] == SOME_DATA_SIGNATURE[:64]
    assert signature[64] == SOME_DATA_SIGNATURE[64] - 27


@pytest.mark.parametrize("offset", [0, 27])
def test_every_v_encoding_recovers_the_same_key(offset: int) -> None:
    key = bytes.fromhex(WEB3_DOC_KEY_HEX)
    signature = bytearray(sign_recoverable(key, SOME_DATA_HASH))
    signature[64] += offset
    recovered = recover_public_key(bytes(signature), SOME_DATA_HASH)
    assert recovered == public_key_from_private(key, compressed=False)


@pytest.mark.parametrize("v", [2, 3, 26, 29, 30, 255])
def test_other_v_values_are_invalid_payloads(v: int) -> None:
    with pytest.raises(InvalidPayload, match="recovery id"):
        recover_public_key(SOME_DATA_SIGNATURE[:64] + bytes([v]), SOME_DATA_HASH)


@pytest.mark.parametrize("signature", [SOME_DATA_SIGNATURE[:64], SOME_DATA_SIGNATURE + b"\x00"])
def test_signatures_of_the_wrong_length_are_invalid_payloads(signature: bytes) -> None:
    with pytest.raises(InvalidPayload, match="65 bytes"):
        recover_public_key(signature, SOME_DATA_HASH)


def test_an_unrecoverable_signature_is_an_invalid_payload() -> None:
    with pytest.raises(InvalidPayload):
        recover_public_key(bytes(65), SOME_DATA_HASH)


@given(private_keys, st.binary(min_size=32, max_size=32))
def test_sign_then_recover_round_trips(key: bytes, digest: bytes) -> None:
    signature = sign_recoverable(key, digest)
    assert signature[64] in (0, 1)
    assert recover_public_key(signature, digest) == public_key_from_private(key, compressed=False)


@pytest.mark.parametrize(
    "text", [WEB3_DOC_KEY_HEX, "0x" + WEB3_DOC_KEY_HEX, WEB3_DOC_KEY_HEX + "\n"]
)
def test_host_key_from_hex_accepts_optional_prefix(text: str) -> None:
    host = HostKey.from_hex(text)
    assert address_from_public_key(host.public_key_compressed) == WEB3_DOC_ADDRESS
    assert host.public_key_compressed_hex.startswith(("0x02", "0x03"))
    assert len(host.public_key_compressed_hex) == 2 + 66
    assert bytes.fromhex(host.public_key_compressed_hex[2:]) == host.public_key_compressed


@pytest.mark.parametrize(
    "text",
    [
        "",
        WEB3_DOC_KEY_HEX[:-2],
        WEB3_DOC_KEY_HEX + "00",
        WEB3_DOC_KEY_HEX[:-1] + "g",
        "0x" + "00" * 32,  # zero is not a key
        f"{ORDER:064x}",  # the group order is not a key
        WEB3_DOC_KEY_HEX[:32] + " " + WEB3_DOC_KEY_HEX[32:],
    ],
)
def test_host_key_from_bad_hex_is_a_clear_error_without_the_input(text: str) -> None:
    with pytest.raises(ValueError, match=r"host private key|out of range") as info:
        HostKey.from_hex(text)
    if text.strip():
        assert text.strip() not in str(info.value)
    assert WEB3_DOC_KEY_HEX[:16] not in str(info.value)


def test_host_key_repr_and_str_show_only_the_public_key() -> None:
    host = HostKey.from_hex(WEB3_DOC_KEY_HEX)
    for text in (repr(host), str(host), f"{host}", f"{host!r}"):
        assert WEB3_DOC_KEY_HEX not in text.lower()
        assert host.public_key_compressed_hex in text
    with pytest.raises(TypeError):
        vars(host)


def test_host_key_ecdh_matches_the_client_side() -> None:
    host = HostKey.generate()
    client = _scalar(12345)
    assert host.ecdh_x(public_key_from_private(client)) == ecdh_x(
        client, host.public_key_compressed
    )


def test_exported_private_key_reloads_to_the_same_key() -> None:
    host = HostKey.generate()
    again = HostKey.from_hex(host.export_private_key_hex())
    assert again.public_key_compressed == host.public_key_compressed
