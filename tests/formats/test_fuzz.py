"""Garbage in, a documented S5VecError out: never a crash, never garbage vectors."""

from __future__ import annotations

import contextlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s5vec.errors import S5VecError
from s5vec.formats import (
    VectorRecord,
    decode_chunk,
    decode_manifest,
    encode_chunk,
    encode_manifest,
)
from s5vec.formats.cbor_vectors import decode_fast, decode_general
from s5vec.formats.plaintext import NotPlaintext
from tests.formats.builders import KEY, cbor, entry, manifest, manifest_dict

keys = st.sampled_from([None, KEY])

SEEDS = [
    encode_manifest(manifest((2, 1)), "cbor"),
    encode_manifest(manifest((2, 1)), "json"),
    cbor(manifest_dict(created=1.5e12, description=None)),
    encode_chunk(
        0,
        [
            VectorRecord(id="a", vector=[0.5, -1.25, 3.0], metadata={"vector": [0.5, 1.5, 2.5]}),
            VectorRecord(id="b", vector=[0.1, 0.2, 0.3], metadata={"t": "vector"}),
        ],
    ),
    encode_chunk(0, [VectorRecord(id="a", vector=[0.5, 0.25, 0.125], metadata={})], "json"),
    cbor({"chunkId": 0, "vectors": [{"id": 1, "vector": [1.5, 2, 0.1], "metadata": None}]}, True),
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=9))
        elif data:
            del data[at : at + draw(st.integers(1, 12))]
    return bytes(data)


def survives(data: bytes, key: bytes | None) -> None:
    """Decode as manifest and as chunk: success or an S5VecError, nothing else."""
    with contextlib.suppress(S5VecError):
        decode_manifest(data, key)
    try:
        chunk = decode_chunk(data, key, entry(0, 2), None)
    except S5VecError:
        return
    assert chunk.vectors.dtype == np.float32
    assert np.isfinite(chunk.vectors).all()


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300), key=keys)
def test_random_bytes_raise_only_documented_errors(data: bytes, key: bytes | None) -> None:
    survives(data, key)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated(), key=keys)
def test_damaged_files_raise_only_documented_errors(data: bytes, key: bytes | None) -> None:
    survives(data, key)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated())
def test_damaged_cbor_reads_the_same_on_both_paths(data: bytes) -> None:
    fast = decode_fast(data, 0)
    if fast is None:
        return
    try:
        general = decode_general(data, 0)
    except (S5VecError, NotPlaintext) as exc:
        raise AssertionError(
            f"the fast path accepted what the general one refuses: {exc!r}"
        ) from exc
    assert fast.ids == general.ids
    assert fast.metadata == general.metadata
    assert fast.vectors.tobytes() == general.vectors.tobytes()
