"""The vectorised CBOR path answers exactly as the general decoder, or defers to it."""

from __future__ import annotations

import struct
from typing import Any

import cbor2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from s5vec.formats import VectorRecord, encode_chunk
from s5vec.formats.cbor_vectors import RawChunk, _candidates, decode_fast, decode_general
from tests.formats.builders import cbor, chunk_dict

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0**32, -(2.0**32), 2.0**-149, 5e-324, 3.4e38, 1e-40]
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-3e38, max_value=3e38),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.floats(allow_nan=False, allow_infinity=False, width=16),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from(SPECIAL),
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**31), 2**31), st.text(max_size=12)
)
vectorish = st.lists(st.floats(allow_nan=False, width=64), min_size=1, max_size=4)
metadata_values = st.recursive(
    json_scalars | st.sampled_from(["vector", "fvector", "\x66vector"]) | vectorish,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["vector", "id", "k", "metadata"]), inner, max_size=3)
    ),
    max_leaves=8,
)
metadata = st.dictionaries(
    st.sampled_from(["vector", "source", "page", "vectors"]), metadata_values, max_size=3
)


def same(left: RawChunk, right: RawChunk) -> bool:
    return (
        left.chunk_id == right.chunk_id
        and left.ids == right.ids
        and left.metadata == right.metadata
        and left.vectors.dtype == right.vectors.dtype == np.float32
        and left.vectors.shape == right.vectors.shape
        and left.vectors.tobytes() == right.vectors.tobytes()
    )


@st.composite
def chunks(draw: st.DrawFn) -> dict[str, Any]:
    width = draw(st.integers(1, 6))
    count = draw(st.integers(0, 6))
    rows = draw(st.lists(st.lists(numbers, min_size=width, max_size=width), min_size=count))
    return chunk_dict(
        [
            {"id": f"v{index}", "vector": row, "metadata": draw(metadata)}
            for index, row in enumerate(rows)
        ],
        chunk_id=draw(st.integers(0, 3)),
    )


@settings(max_examples=200)
@given(value=chunks(), canonical=st.booleans())
def test_fast_path_is_bit_identical_to_the_general_decoder(
    value: dict[str, Any], canonical: bool
) -> None:
    data = cbor(value, canonical=canonical)
    fast = decode_fast(data, 0)
    if fast is not None:
        assert same(fast, decode_general(data, 0))


@settings(max_examples=200)
@given(value=chunks())
def test_s5js_encoding_is_read_identically_by_both_paths(value: dict[str, Any]) -> None:
    rows = [[float(x) for x in item["vector"]] for item in value["vectors"]]
    data = encode_chunk(
        value["chunkId"],
        [
            VectorRecord(id=item["id"], vector=row, metadata=item["metadata"])
            for item, row in zip(value["vectors"], rows, strict=True)
        ],
    )
    fast = decode_fast(data, 0)
    general = decode_general(data, 0)
    if fast is not None:
        assert same(fast, general)
    if rows:
        # cbor-x writes -0 as the integer 0: adding 0.0 makes the same change.
        expected = (np.array(rows, dtype=np.float64) + 0.0).astype(np.float32)
        assert general.vectors.tobytes() == expected.tobytes()


def embedding_chunk(count: int = 20, width: int = 16, **meta: Any) -> bytes:
    rng = np.random.default_rng(count * width)
    return encode_chunk(
        0,
        [
            VectorRecord(id=f"v{index}", vector=rng.normal(size=width).tolist(), metadata=meta)
            for index in range(count)
        ],
    )


def test_fast_path_takes_what_s5js_writes() -> None:
    data = embedding_chunk(text="a vector about vectors", tags=["vector"])
    fast = decode_fast(data, 0)
    assert fast is not None
    assert same(fast, decode_general(data, 0))


def test_one_whole_number_keeps_the_fast_path_for_the_others() -> None:
    rows = np.random.default_rng(1).normal(size=(5, 8))
    rows[2, 3] = 7.0  # cbor-x writes 7 as an integer: that vector is read on its own
    data = encode_chunk(0, (["a", "b", "c", "d", "e"], rows, [{}] * 5))
    assert b"\x07" in data
    fast = decode_fast(data, 0)
    assert fast is not None
    assert same(fast, decode_general(data, 0))
    assert fast.vectors[2, 3] == 7.0


def test_metadata_vector_of_the_same_length_defers_to_the_general_decoder() -> None:
    data = embedding_chunk(count=4, width=3, vector=[0.25, 0.5, 0.75])
    assert decode_fast(data, 0) is None
    general = decode_general(data, 0)
    assert general.metadata[0] == {"vector": [0.25, 0.5, 0.75]}


def test_metadata_vector_of_another_length_stays_in_place() -> None:
    data = embedding_chunk(count=4, width=3, nested={"vector": [0.5, 0.125]})
    fast = decode_fast(data, 0)
    assert fast is not None
    assert fast.metadata[0] == {"nested": {"vector": [0.5, 0.125]}}


def test_half_and_single_floats_are_read_by_the_general_decoder() -> None:
    data = cbor(chunk_dict([("a", [1.5, 0.25]), ("b", [0.1, 0.2])]), canonical=True)
    assert b"\xfb" not in data[:60] or decode_fast(data, 0) is not None
    general = decode_general(data, 0)
    assert general.vectors.tolist() == np.array([[1.5, 0.25], [0.1, 0.2]], np.float32).tolist()


def test_vector_key_bytes_inside_a_byte_string_do_not_fool_the_fast_path() -> None:
    fake = b"\x66vector\x82\xfb" + bytes(8) + b"\xfb" + bytes(8)
    value = chunk_dict([("a", [0.5, 0.25])], blob=fake)
    data = cbor(value)
    fast = decode_fast(data, 0)
    general = decode_general(data, 0)
    if fast is not None:
        assert same(fast, general)
    assert general.vectors.tolist() == [[0.5, 0.25]]


def test_a_tag_in_the_file_is_never_taken_for_a_placeholder() -> None:
    for tag in (0x53355645, 0x80000000, 0xFFFFFFFF):
        value = chunk_dict([("a", [0.5, 0.25]), ("b", cbor2.CBORTag(tag, 0))])
        assert decode_fast(cbor(value), 0) is None


def test_shared_value_tags_cannot_make_the_fast_path_reorder_vectors() -> None:
    """A file reusing a record through CBOR tags 28/29 must not get another record's vector."""

    def array(values: list[float]) -> bytes:
        return b"\x82" + b"".join(b"\xfb" + struct.pack(">d", v) for v in values)

    def text(s: str) -> bytes:
        raw = s.encode()
        return bytes([0x60 + len(raw)]) + raw

    def record(ident: str, vector: bytes) -> bytes:
        return (
            b"\xa3"
            + text("id")
            + text(ident)
            + text("vector")
            + vector
            + text("metadata")
            + b"\xa0"
        )

    shared = b"\xd8\x1c" + record("z", array([1.0, 2.0]))
    data = (
        b"\xa3"
        + text("x")
        + shared
        + text("chunkId")
        + b"\x00"
        + text("vectors")
        + b"\x82"
        + record("a", array([3.0, 4.0]))
        + b"\xd8\x1d\x00"
    )
    fast = decode_fast(data, 0)
    if fast is not None:
        general = decode_general(data, 0)
        assert fast.ids == general.ids
        assert fast.vectors.tobytes() == general.vectors.tobytes()


def test_a_skip_past_the_next_key_leaves_that_vector_for_the_slow_path() -> None:
    rows = np.random.default_rng(3).normal(size=(6, 384))
    rows[0, :200] = np.arange(200) % 23 + 1  # one-byte CBOR integers: 1600 bytes short of 9 each
    data = encode_chunk(0, ([f"{i}" for i in range(6)], rows, [{}] * 6))
    keys = [at for at in range(len(data)) if data.startswith(b"\x66vector", at)]
    assert len(keys) == 6
    # The skip over vector 0 (key, 0x99 header, assumed 384 x 9 bytes) lands past vector 1's
    # key, inside its floats, so vector 1 is found by no key search and stays in place.
    assumed_end = keys[0] + 7 + 3 + 384 * 9
    assert keys[1] < assumed_end < keys[2]
    found, _, _ = _candidates(data)
    assert found == [keys[0], *keys[2:]]
    fast = decode_fast(data, 0)
    assert fast is not None
    general = decode_general(data, 0)
    assert same(fast, general)
    assert general.vectors.tobytes() == rows.astype(np.float32).tobytes()
