"""AES-256-GCM as S5 clients write it."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s5vec.crypto import aesgcm
from s5vec.errors import DecryptionFailed

KEY = bytes(32)
NONCE = bytes([1]) * 12


def test_known_key_and_nonce_round_trip() -> None:
    blob = aesgcm.encrypt(KEY, b"hello s5", nonce=NONCE)
    assert blob[:12] == NONCE
    assert len(blob) == 12 + len(b"hello s5") + 16
    assert aesgcm.decrypt(KEY, blob) == b"hello s5"


def test_every_single_byte_tamper_is_detected() -> None:
    blob = aesgcm.encrypt(KEY, b"vector database chunk", nonce=NONCE)
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x01
        with pytest.raises(DecryptionFailed):
            aesgcm.decrypt(KEY, bytes(tampered))


def test_wrong_key_fails_without_leaking_the_key() -> None:
    blob = aesgcm.encrypt(KEY, b"secret")
    wrong = bytes([7]) * 32
    with pytest.raises(DecryptionFailed) as info:
        aesgcm.decrypt(wrong, blob)
    assert wrong.hex() not in str(info.value)
    assert "secret" not in str(info.value)


def test_too_short_blob_is_a_decryption_failure() -> None:
    with pytest.raises(DecryptionFailed):
        aesgcm.decrypt(KEY, b"short")


@given(key=st.binary(min_size=32, max_size=32), plaintext=st.binary(max_size=4096))
def test_round_trip_any_key_and_plaintext(key: bytes, plaintext: bytes) -> None:
    assert aesgcm.decrypt(key, aesgcm.encrypt(key, plaintext)) == plaintext
