"""Chunks: every number encoding, every documented error, and the detection rules of SPEC 5."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import cbor2
import numpy as np
import pytest

from s5vec.crypto import aesgcm
from s5vec.errors import (
    ChunkParseError,
    DecryptionFailed,
    DimensionMismatch,
    InvalidVector,
    VectorCountMismatch,
)
from s5vec.formats import VectorRecord, decode_chunk, encode_chunk
from s5vec.formats.metadata import MAX_METADATA_DEPTH
from tests.formats.builders import KEY, OTHER_KEY, cbor, chunk_dict, entry, json

ENCODINGS = [cbor, json]


def records(count: int = 2, width: int = 3) -> list[VectorRecord]:
    return [
        VectorRecord(id=f"v{index}", vector=[index + 0.5] * width, metadata={"n": index})
        for index in range(count)
    ]


@pytest.mark.parametrize("fmt", ["cbor", "json"])
def test_decoded_vectors_are_float32_c_contiguous(fmt: Any) -> None:
    chunk = decode_chunk(encode_chunk(0, records(), fmt), None, entry(0, 2), 3)
    assert chunk.vectors.dtype == np.float32
    assert chunk.vectors.shape == (2, 3)
    assert chunk.vectors.flags["C_CONTIGUOUS"]
    assert chunk.ids == ["v0", "v1"]
    assert chunk.metadata == [{"n": 0}, {"n": 1}]
    assert chunk.encrypted is False


def test_every_cbor_number_encoding_decodes() -> None:
    items = [
        b"\x01",  # uint
        b"\x38\x63",  # negint -100
        b"\x1b\x00\x00\x00\x01\x00\x00\x00\x00",  # uint64 2^32
        b"\xc2\x49\x01" + bytes(8),  # bignum 2^64
        b"\xc3\x41\x00",  # negative bignum -1
        b"\xf9\x3e\x00",  # half 1.5
        b"\xf9\x80\x00",  # half -0.0
        b"\xfa\x3d\xcc\xcc\xcd",  # single 0.1f
        b"\xfb\x3f\xb9\x99\x99\x99\x99\x99\x9a",  # double 0.1
    ]
    vector = b"\x89" + b"".join(items)
    data = (
        b"\xa2\x67chunkId\x00\x67vectors\x81\xa2\x62id\x61a\x66vector" + vector
    )  # no metadata key
    chunk = decode_chunk(data, None, entry(0, 1), None)
    expected = np.array([1, -100, 2**32, 2**64, -1, 1.5, -0.0, 0.1, 0.1], dtype=np.float32)
    assert chunk.vectors.tobytes() == expected.reshape(1, -1).tobytes()
    assert chunk.metadata == [{}]


def test_indefinite_length_arrays_decode() -> None:
    vector = b"\x9f\xfb" + np.float64(0.25).byteswap().tobytes() + b"\x02\xff"
    data = b"\xbf\x67chunkId\x00\x67vectors\x9f\xbf\x62id\x61a\x66vector" + vector + b"\xff\xff\xff"
    chunk = decode_chunk(data, None, entry(0, 1), 2)
    assert chunk.vectors.tolist() == [[0.25, 2.0]]


@pytest.mark.parametrize("encode", ENCODINGS)
def test_integer_ids_become_text(encode: Any) -> None:
    chunk = decode_chunk(encode(chunk_dict([(7, [1.0]), ("8", [2.0])])), None, entry(0, 2), 1)
    assert chunk.ids == ["7", "8"]


@pytest.mark.parametrize("encode", ENCODINGS)
def test_absent_or_null_metadata_is_an_empty_object(encode: Any) -> None:
    vectors = [{"id": "a", "vector": [1.0]}, {"id": "b", "vector": [2.0], "metadata": None}]
    chunk = decode_chunk(encode(chunk_dict(vectors)), None, entry(0, 2), 1)
    assert chunk.metadata == [{}, {}]


def test_cbor_metadata_becomes_json_values() -> None:
    moment = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    meta = {"when": moment, "gone": cbor2.undefined, "deep": [{"x": cbor2.undefined}]}
    data = cbor(chunk_dict([{"id": "a", "vector": [1.0], "metadata": meta}]))
    chunk = decode_chunk(data, None, entry(0, 1), 1)
    assert chunk.metadata == [
        {"when": "2024-05-06T07:08:09.123Z", "gone": None, "deep": [{"x": None}]}
    ]


def test_undefined_metadata_is_an_empty_object() -> None:
    data = cbor(chunk_dict([{"id": "a", "vector": [1.0], "metadata": cbor2.undefined}]))
    assert decode_chunk(data, None, entry(0, 1), 1).metadata == [{}]


def test_empty_chunk_has_the_manifest_dimension() -> None:
    chunk = decode_chunk(json(chunk_dict([])), None, entry(0, 0), 384)
    assert chunk.vectors.shape == (0, 384)
    assert chunk.vectors.dtype == np.float32


@pytest.mark.parametrize("fmt", ["cbor", "json"])
def test_encrypted_chunk_opens_with_its_key(fmt: Any) -> None:
    chunk = decode_chunk(encode_chunk(0, records(), fmt, KEY), KEY, entry(0, 2), 3)
    assert chunk.encrypted is True
    assert chunk.ids == ["v0", "v1"]


@pytest.mark.parametrize("fmt", ["cbor", "json"])
def test_plaintext_chunk_is_accepted_with_a_key(fmt: Any) -> None:
    chunk = decode_chunk(encode_chunk(0, records(), fmt), KEY, entry(0, 2), 3)
    assert chunk.encrypted is False


def test_wrong_key_is_a_decryption_failure() -> None:
    with pytest.raises(DecryptionFailed):
        decode_chunk(encode_chunk(0, records(), "cbor", KEY), OTHER_KEY, entry(0, 2), 3)


def test_encrypted_chunk_without_key_is_a_parse_error() -> None:
    with pytest.raises(ChunkParseError, match="encrypted or damaged"):
        decode_chunk(encode_chunk(0, records(), "cbor", KEY), None, entry(0, 2), 3)


@pytest.mark.parametrize("fmt", ["cbor", "json"])
def test_trailing_bytes_are_not_plaintext(fmt: Any) -> None:
    data = encode_chunk(0, records(), fmt) + b"\x00"
    with pytest.raises(ChunkParseError):
        decode_chunk(data, None, entry(0, 2), 3)
    with pytest.raises(DecryptionFailed):
        decode_chunk(data, KEY, entry(0, 2), 3)


def test_ciphertext_of_something_else_is_a_parse_error() -> None:
    with pytest.raises(ChunkParseError, match="decrypts"):
        decode_chunk(aesgcm.encrypt(KEY, b"garbage"), KEY, entry(0, 1), None)


def test_plaintext_that_breaks_the_schema_with_a_key_is_a_parse_error() -> None:
    data = cbor(chunk_dict([("a", ["x"])]))
    with pytest.raises(ChunkParseError):
        decode_chunk(data, KEY, entry(0, 1), None)


@pytest.mark.parametrize("encode", ENCODINGS)
@pytest.mark.parametrize(
    "value",
    [
        chunk_dict([("a", [1.0])], chunk_id=3),
        chunk_dict([("a", [1.0]), ("a", [2.0])]),
        chunk_dict([(1, [1.0]), ("1", [2.0])]),
        chunk_dict([(True, [1.0])]),
        chunk_dict([(None, [1.0])]),
        chunk_dict([("a", ["1.5"])]),
        chunk_dict([("a", [True])]),
        chunk_dict([("a", [None])]),
        chunk_dict([("a", [[1.0]])]),
        chunk_dict([("a", 1.0)]),
        chunk_dict([{"id": "a", "vector": [1.0], "metadata": "text"}]),
        chunk_dict([{"id": "a", "vector": [1.0], "metadata": [1]}]),
        chunk_dict([{"vector": [1.0]}]),
        {"vectors": []},
        {"chunkId": 0, "vectors": {}},
        {"chunkId": "zero", "vectors": []},
    ],
)
def test_schema_breaks_are_chunk_parse_errors(encode: Any, value: Any) -> None:
    count = len(value.get("vectors") or [])
    with pytest.raises(ChunkParseError):
        decode_chunk(encode(value), None, entry(0, count or 1), None)


@pytest.mark.parametrize(
    "meta",
    [{"raw": b"\x00"}, {"tag": cbor2.CBORTag(99, 1)}, {1: "int key"}, {"s": {1, 2}}],
)
def test_cbor_metadata_json_cannot_carry_is_a_parse_error(meta: Any) -> None:
    data = cbor(chunk_dict([("a", [1.0]), {"id": "b", "vector": [1.0], "metadata": meta}]))
    with pytest.raises(ChunkParseError, match="vector 1"):
        decode_chunk(data, None, entry(0, 2), 1)


def _nested(levels: int) -> Any:
    """Metadata nesting ``levels`` objects and arrays deep (the outer object included)."""
    value: Any = "leaf"
    for level in range(levels - 1):
        value = [value] if level % 2 else {"k": value}
    return {"deep": value}


@pytest.mark.parametrize("encode", ENCODINGS)
def test_metadata_deeper_than_replies_can_carry_is_a_parse_error(encode: Any) -> None:
    fits = {"id": "a", "vector": [1.0], "metadata": _nested(MAX_METADATA_DEPTH)}
    chunk = decode_chunk(encode(chunk_dict([fits])), None, entry(0, 1), 1)
    assert chunk.metadata == [_nested(MAX_METADATA_DEPTH)]
    deep = {"id": "b", "vector": [1.0], "metadata": _nested(MAX_METADATA_DEPTH + 1)}
    data = encode(chunk_dict([("a", [1.0]), deep]))
    with pytest.raises(
        ChunkParseError, match=f"vector 1 holds values nested more than {MAX_METADATA_DEPTH}"
    ):
        decode_chunk(data, None, entry(0, 2), 1)


def test_duplicate_ids_message_names_positions_not_ids() -> None:
    data = json(chunk_dict([("SECRET", [1.0]), ("x", [1.0]), ("SECRET", [1.0])]))
    with pytest.raises(ChunkParseError) as info:
        decode_chunk(data, None, entry(0, 3), 1)
    assert "vectors 0 and 2" in info.value.message
    assert "SECRET" not in info.value.message


@pytest.mark.parametrize("encode", ENCODINGS)
def test_count_unlike_the_manifest_is_a_count_mismatch(encode: Any) -> None:
    with pytest.raises(VectorCountMismatch):
        decode_chunk(encode(chunk_dict([("a", [1.0])])), None, entry(0, 2), 1)


@pytest.mark.parametrize("encode", ENCODINGS)
@pytest.mark.parametrize(
    ("vectors", "dimensions"),
    [
        ([("a", [1.0, 2.0]), ("b", [1.0])], None),
        ([("a", [])], None),
        ([("a", [0.5] * 4097)], None),
        ([("a", [1.0, 2.0])], 3),
    ],
)
def test_bad_lengths_are_dimension_mismatches(
    encode: Any, vectors: list[Any], dimensions: int | None
) -> None:
    with pytest.raises(DimensionMismatch):
        decode_chunk(encode(chunk_dict(vectors)), None, entry(0, len(vectors)), dimensions)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1e39, -3.5e38])
def test_non_finite_after_float32_rounding_is_an_invalid_vector(bad: float) -> None:
    data = cbor(chunk_dict([("a", [1.0, 2.0]), ("b", [1.0, bad])]))
    with pytest.raises(InvalidVector) as info:
        decode_chunk(data, None, entry(0, 2), 2)
    assert "vector 1" in info.value.message
    assert "1e+39" not in info.value.message


def test_largest_float32_is_finite() -> None:
    top = float(np.finfo(np.float32).max)
    chunk = decode_chunk(json(chunk_dict([("a", [top, -top])])), None, entry(0, 1), 2)
    assert chunk.vectors.tolist() == [[top, -top]]


def test_json_chunk_whitespace_and_integers() -> None:
    data = b'  {"chunkId": 0, "vectors": [{"id": "a", "vector": [1, -2, 100000000000000000000]}]}\n'
    chunk = decode_chunk(data, None, entry(0, 1), 3)
    assert chunk.vectors.tolist() == [[1.0, -2.0, float(np.float32(1e20))]]


def test_encoder_accepts_columns() -> None:
    ids = ["a", "b"]
    vectors = np.array([[0.5, 1.0], [2.0, -0.25]], dtype=np.float32)
    data = encode_chunk(4, (ids, vectors, [{}, {"k": "v"}]), "cbor")
    chunk = decode_chunk(data, None, entry(4, 2), 2)
    assert chunk.chunk_id == 4
    assert np.array_equal(chunk.vectors, vectors)
    assert chunk.metadata == [{}, {"k": "v"}]


def test_encoder_refuses_columns_that_disagree() -> None:
    with pytest.raises(ValueError, match="same n"):
        encode_chunk(0, (["a"], np.zeros((2, 3)), [{}, {}]))
