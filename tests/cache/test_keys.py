"""Cache keys: path, salted key id and manifest digest."""

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s5vec.cache import PLAINTEXT, CacheKey, key_id_for, manifest_digest, new_salt

SALT = bytes(range(32))
PATH = "home/vector-databases/0xabc/docs/manifest.json"


def test_plaintext_databases_share_one_key_id() -> None:
    assert key_id_for(None, SALT) == PLAINTEXT
    assert key_id_for(None, new_salt()) == PLAINTEXT


def test_key_id_is_an_hmac_not_the_key_or_its_plain_hash() -> None:
    session_key = bytes([7]) * 32
    key_id = key_id_for(session_key, SALT)
    assert len(key_id) == 64
    assert session_key.hex() not in key_id
    assert key_id != hashlib.sha256(session_key).hexdigest()
    assert key_id == key_id_for(session_key, SALT)


def test_key_id_depends_on_the_per_process_salt() -> None:
    session_key = bytes([7]) * 32
    assert key_id_for(session_key, SALT) != key_id_for(session_key, new_salt())
    assert new_salt() != new_salt()


def test_short_salt_is_refused() -> None:
    with pytest.raises(ValueError, match="salt"):
        key_id_for(b"k" * 32, b"short")


@given(st.binary(min_size=1, max_size=64), st.binary(min_size=1, max_size=64))
def test_different_session_keys_never_share_a_key_id(a: bytes, b: bytes) -> None:
    if a != b:
        assert key_id_for(a, SALT) != key_id_for(b, SALT)
    assert key_id_for(a, SALT) != PLAINTEXT


def test_manifest_digest_is_sha256_of_the_fetched_bytes() -> None:
    assert manifest_digest(b"{}") == hashlib.sha256(b"{}").hexdigest()


def test_build_combines_path_key_and_manifest() -> None:
    key = CacheKey.build(PATH, None, b"manifest", SALT)
    assert key == CacheKey(PATH, PLAINTEXT, manifest_digest(b"manifest"))
    assert CacheKey.build(PATH, b"k" * 32, b"manifest", SALT) != key
    assert CacheKey.build(PATH, None, b"manifest v2", SALT) != key
