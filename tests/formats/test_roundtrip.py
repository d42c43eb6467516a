"""Encode then decode gives back what went in: both formats, with and without encryption."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from s5vec.formats import (
    ChunkEntry,
    Manifest,
    VectorRecord,
    decode_chunk,
    decode_manifest,
    encode_chunk,
    encode_manifest,
)

formats = st.sampled_from(["cbor", "json"])
keys = st.none() | st.binary(min_size=32, max_size=32)
# JavaScript numbers: integers past 2^53 would not survive a JavaScript client either.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
components = st.floats(width=32, allow_nan=False, allow_infinity=False) | st.integers(-1000, 1000)
times = st.integers(0, 2**53)


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    counts = draw(st.lists(st.integers(0, 10_000), max_size=6))
    order = draw(st.permutations(range(len(counts))))
    return Manifest(
        name=draw(st.text(min_size=1, max_size=30)),
        owner=draw(st.text(max_size=42)),
        description=draw(st.none() | st.text(max_size=40)),
        dimensions=draw(st.none() | st.integers(1, 4096)),
        vector_count=sum(counts),
        storage_size_bytes=draw(st.integers(0, 2**40)),
        created=draw(times),
        last_accessed=draw(times),
        updated=draw(times),
        chunks=[
            ChunkEntry(
                chunk_id=chunk_id,
                cid=draw(st.text(max_size=60)),
                vector_count=counts[chunk_id],
                size_bytes=draw(st.integers(0, 2**40)),
                updated_at=draw(times),
            )
            for chunk_id in order
        ],
        chunk_count=len(counts),
        folder_paths=draw(st.lists(st.text(max_size=20), max_size=3)),
        deleted=draw(st.booleans()),
        pending_documents=draw(
            st.none()
            | st.lists(st.dictionaries(st.text(max_size=5), json_values, max_size=3), max_size=2)
        ),
        ready_documents=draw(
            st.none()
            | st.lists(st.dictionaries(st.text(max_size=5), json_values, max_size=3), max_size=2)
        ),
    )


@settings(max_examples=150)
@given(manifest=manifests(), fmt=formats, key=keys)
def test_manifest_round_trip(manifest: Manifest, fmt: Any, key: bytes | None) -> None:
    decoded = decode_manifest(encode_manifest(manifest, fmt, key), key)
    assert decoded.manifest == manifest
    assert decoded.encrypted is (key is not None)
    assert decoded.format == fmt


@st.composite
def records(draw: st.DrawFn) -> list[VectorRecord]:
    width = draw(st.integers(1, 24))
    ids = draw(st.lists(st.text(max_size=16), unique=True, max_size=8))
    return [
        VectorRecord(
            id=item,
            vector=draw(st.lists(components, min_size=width, max_size=width)),
            metadata=draw(st.dictionaries(st.text(max_size=8), json_values, max_size=4)),
        )
        for item in ids
    ]


@settings(max_examples=150)
@given(chunk=records(), chunk_id=st.integers(0, 2**31), fmt=formats, key=keys)
def test_chunk_round_trip(
    chunk: list[VectorRecord], chunk_id: int, fmt: Any, key: bytes | None
) -> None:
    entry = ChunkEntry(chunk_id=chunk_id, cid="c", vector_count=len(chunk))
    width = len(chunk[0].vector) if chunk else None
    decoded = decode_chunk(encode_chunk(chunk_id, chunk, fmt, key), key, entry, width)
    assert decoded.chunk_id == chunk_id
    assert decoded.ids == [record.id for record in chunk]
    assert decoded.metadata == [record.metadata for record in chunk]
    assert decoded.encrypted is (key is not None)
    if chunk:
        # -0 may come back as 0 (cbor-x writes it as an integer): compare values, not bits.
        expected = np.array([record.vector for record in chunk], dtype=np.float64)
        assert np.array_equal(decoded.vectors, expected.astype(np.float32))


@settings(max_examples=50)
@given(
    rows=st.integers(1, 30).flatmap(
        lambda width: st.lists(
            st.lists(
                st.floats(width=32, allow_nan=False, allow_infinity=False),
                min_size=width,
                max_size=width,
            ),
            min_size=1,
            max_size=10,
        )
    ),
    fmt=formats,
)
def test_float32_arrays_round_trip_bit_for_bit(rows: list[list[float]], fmt: Any) -> None:
    vectors = np.array(rows, dtype=np.float32) + np.float32(0.0)  # no -0: cbor-x writes 0
    ids = [str(index) for index in range(len(rows))]
    data = encode_chunk(0, (ids, vectors, [{}] * len(rows)), fmt)
    entry = ChunkEntry(chunk_id=0, cid="c", vector_count=len(rows))
    decoded = decode_chunk(data, None, entry, vectors.shape[1])
    assert decoded.vectors.tobytes() == vectors.tobytes()
