"""S5 blob CIDs: round trips in every base, known vectors, garbage refused without crashing."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s5vec.formats.cid import (
    PREFIX,
    CidError,
    S5Cid,
    cid_for_bytes,
    format_cid,
    is_blob_cid,
    parse_cid,
    parse_cid_bytes,
)

# Printed by s5-dev/blobsum (README) for its LICENSE file.
BLOBSUM_VECTOR = "blobb5kykfixjikdxcpnx5dpo26pjjywwuz473hfdsmbxvsvcq5xgbcipmewa"
# BLAKE3 of the empty input, from the BLAKE3 reference test vectors.
BLAKE3_EMPTY = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"

cids = st.builds(S5Cid, st.binary(min_size=32, max_size=32), st.integers(0, 2**64 - 1))
bases = st.sampled_from(["b", "z", "u"])


def _b32(raw: bytes) -> str:
    return "b" + base64.b32encode(raw).decode().rstrip("=").lower()


@given(cids, bases)
def test_format_then_parse_round_trips(cid: S5Cid, base: str) -> None:
    text = format_cid(cid, base)  # type: ignore[arg-type]
    assert text[0] == base
    assert parse_cid(text) == cid
    assert is_blob_cid(text)


@given(cids)
def test_base32_cids_start_with_blob(cid: S5Cid) -> None:
    assert format_cid(cid).startswith("blob")


@given(st.binary(max_size=4096))
def test_cid_for_bytes_matches_its_data_only(data: bytes) -> None:
    cid = cid_for_bytes(data)
    assert cid.size == len(data)
    assert cid.matches(data)
    assert not cid.matches(data + b"\x00")
    if data:
        assert not cid.matches(bytes([data[0] ^ 1]) + data[1:])


def test_blobsum_vector_parses_and_formats_back() -> None:
    cid = parse_cid(BLOBSUM_VECTOR)
    assert cid.size == 11361
    assert format_cid(cid) == BLOBSUM_VECTOR


def test_empty_blob_uses_the_blake3_reference_hash() -> None:
    cid = cid_for_bytes(b"")
    assert cid.hash.hex() == BLAKE3_EMPTY
    # s5.js keeps one size byte for size 0.
    assert cid.to_bytes() == PREFIX + cid.hash + b"\x00"


def test_size_zero_without_size_bytes_parses_like_s5_rs_writes_it() -> None:
    digest = bytes(range(32))
    assert parse_cid(_b32(PREFIX + digest)) == S5Cid(digest, 0)


def test_size_is_little_endian() -> None:
    digest = bytes(32)
    assert parse_cid(_b32(PREFIX + digest + b"\x00\x01")).size == 256


@pytest.mark.parametrize(
    "text",
    [
        "",
        "b",
        "z",
        "blob",
        "home/vector-databases/0xabc/db/chunk-0.json",
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",  # IPFS CIDv1
        BLOBSUM_VECTOR.upper(),
        "B" + BLOBSUM_VECTOR[1:],
        BLOBSUM_VECTOR + "=",
        BLOBSUM_VECTOR[:-1],
        BLOBSUM_VECTOR[:-3],
        "m" + BLOBSUM_VECTOR[1:],
        "z0OIl",
        "u+/+/",
        "b" + "é" * 10,
        "b" * 200,
        _b32(bytes([0x5B, 0x82, 0x1F]) + bytes(32) + b"\x01"),  # not BLAKE3
        _b32(bytes([0x26]) + bytes(33)),  # legacy S5 CID
        _b32(PREFIX + bytes(31)),  # hash too short
        _b32(PREFIX + bytes(32) + bytes(9)),  # nine size bytes
    ],
)
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(CidError):
        parse_cid(text)
    assert not is_blob_cid(text)


@given(st.text(max_size=100))
def test_any_text_parses_or_raises_cid_error(text: str) -> None:
    try:
        parse_cid(text)
    except CidError:
        assert not is_blob_cid(text)
    else:
        assert is_blob_cid(text)


@given(st.binary(max_size=50))
def test_any_bytes_parse_or_raise_cid_error(raw: bytes) -> None:
    try:
        cid = parse_cid_bytes(raw)
    except CidError:
        return
    assert raw[:3] == PREFIX
    assert cid.hash == raw[3:35]


@given(st.one_of(st.none(), st.integers(), st.binary()))
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(CidError):
        parse_cid(value)  # type: ignore[arg-type]


def test_invalid_cid_fields_are_refused() -> None:
    with pytest.raises(CidError):
        S5Cid(bytes(31), 1)
    with pytest.raises(CidError):
        S5Cid(bytes(32), -1)
    with pytest.raises(CidError):
        S5Cid(bytes(32), 2**64)
    with pytest.raises(CidError):
        format_cid(S5Cid(bytes(32), 1), "f")  # type: ignore[arg-type]
