"""CBOR chunk decoding: a vectorised path for what s5.js writes, and the general decoder.

s5.js (cbor-x, ``useFloat32: 0``) writes each vector as ``"vector"`` followed by an array of
float64 items, ``0xfb`` + 8 bytes each: a fixed 9-byte stride. The fast path

1. finds each ``0x66 "vector"`` (``bytes.find``) and the array header after it (``0x81..0x97``,
   ``0x98 n``, ``0x99 nn``, ``0x9a nnnn``), and checks with one strided slice that every 9th
   byte of the items is ``0xfb``: such an array consists of exactly ``n`` float64 items (by
   induction on the items). The search resumes after it, so float payloads are not scanned;
2. copies the items of the arrays of the most common length into one buffer and reads it
   with numpy as ``[("tag", u1), ("value", >f8)]``, then rounds to float32: no per-float
   Python object is ever made;
3. splices each such array out of the file, leaving a 10-byte placeholder (a CBOR tag with a
   number drawn at random for this decode, holding the array's ordinal), and decodes the
   rest with cbor2;
4. accepts the result only if placeholder ``k`` is exactly the ``vector`` of the k-th vector
   that has one. A placeholder the parser met as an item was met where the array was, so
   the whole file parses the same way with the arrays in place: the fast result is the
   general decoder's. A ``"vector"`` key inside metadata or bytes that merely look like one
   leave a placeholder elsewhere (or swallowed in a string) and fail the check; the random
   tag number cannot be forged by a file.

Vectors not written as all-float64 arrays (an integer, a half or single float, an
indefinite-length array) stay in place and are read one by one, so one whole-number
component costs one vector, not the file. Whenever the fast path cannot vouch for its result
it returns None and the caller runs the general decoder (cbor2 + numpy), which is the
authority: the two agree bit for bit whenever the fast path answers.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from typing import Any

import cbor2
import msgspec
import numpy as np
import numpy.typing as npt

from s5vec.errors import ChunkParseError, DimensionMismatch
from s5vec.formats.metadata import json_metadata
from s5vec.formats.plaintext import NotPlaintext, load_cbor
from s5vec.formats.schema import MAX_DIMENSIONS, WireChunk

_ITEM = np.dtype([("tag", "u1"), ("value", ">f8")])
_MAJOR_MAP = 5
_ITEM_SIZE = _ITEM.itemsize
_VECTOR_KEY = b"\x66vector"
_KEY_SIZE = len(_VECTOR_KEY)

Float32Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class RawChunk:
    """A chunk file's content before it is checked against its manifest entry."""

    chunk_id: int
    ids: list[str]
    vectors: Float32Matrix
    metadata: list[dict[str, Any]]


def to_float32(rows: npt.NDArray[Any]) -> Float32Matrix:
    """Round to float32 (nearest, ties to even); values beyond its range become infinite."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.ascontiguousarray(rows, dtype=np.float32)


def ids_as_text(ids: list[str | int]) -> list[str]:
    """Vector ids as text: integer ids (a JSON tool's choice) become their decimal form."""
    if all(type(item) is str for item in ids):
        return ids  # type: ignore[return-value]
    return [item if isinstance(item, str) else str(item) for item in ids]


def stack_rows(rows: list[list[float]], label: int) -> Float32Matrix:
    """Stack vectors of one length into a float32 matrix; DimensionMismatch if they differ."""
    if not rows:
        return np.empty((0, 0), dtype=np.float32)
    width = len(rows[0])
    for index, row in enumerate(rows):
        if len(row) != width:
            raise DimensionMismatch(
                f"Chunk {label}: vector {index} has {len(row)} dimensions, vector 0 has {width}"
            )
    return to_float32(np.array(rows, dtype=np.float64).reshape(len(rows), width))


def decode_general(data: bytes, label: int) -> RawChunk:
    """Decode a CBOR chunk with cbor2 and numpy: every CBOR number encoding is accepted."""
    value = load_cbor(data)
    if not isinstance(value, dict):
        raise NotPlaintext()
    try:
        wire = msgspec.convert(value, WireChunk[list[float], Any])
    except msgspec.ValidationError as exc:
        raise ChunkParseError(f"Chunk {label} breaks the chunk schema: {exc}") from None
    entries = wire.vectors
    return RawChunk(
        chunk_id=wire.chunk_id,
        ids=ids_as_text([entry.id for entry in entries]),
        vectors=stack_rows([entry.vector for entry in entries], label),
        metadata=json_metadata([entry.metadata for entry in entries], label),
    )


@dataclass(frozen=True, slots=True)
class _Spliced:
    """The fast path's intermediate: float32 rows of the spliced arrays, and the rest."""

    vectors: Float32Matrix
    rest: bytes
    tag: int


def _array_at(data: bytes, head: int) -> tuple[int, int]:
    """Item count and first-item offset of a definite-length array header at ``head``."""
    kind = data[head]
    if kind == 0x99:  # 256..65535 items: every common embedding size
        return (data[head + 1] << 8) | data[head + 2], head + 3
    if 0x81 <= kind <= 0x97:
        return kind - 0x80, head + 1
    if kind == 0x98:
        return data[head + 1], head + 2
    if kind == 0x9A:
        return int.from_bytes(data[head + 1 : head + 5], "big"), head + 5
    return 0, head


def _float64_arrays(data: bytes) -> tuple[list[int], list[int], list[int]]:
    """Key offsets, first-item offsets and counts of the all-float64 ``"vector"`` arrays.

    ``bytes.find`` locates the key; the items check is one strided slice compared in C
    (every 9th byte ``0xfb``). The search resumes after a verified array, so the float
    payloads, almost all of the file, are never scanned for keys.
    """
    keys: list[int] = []
    firsts: list[int] = []
    counts: list[int] = []
    find, size = data.find, len(data)
    tags = b""
    at = find(_VECTOR_KEY)
    while at >= 0:
        head = at + _KEY_SIZE
        if head + 5 > size:  # too close to the end for a header and one item
            break
        count, first = _array_at(data, head)
        stop = first + count * _ITEM_SIZE
        if len(tags) != count:
            tags = b"\xfb" * count
        if 0 < count <= MAX_DIMENSIONS and stop <= size and data[first:stop:_ITEM_SIZE] == tags:
            keys.append(at)
            firsts.append(first)
            counts.append(count)
            at = find(_VECTOR_KEY, stop)
        else:
            at = find(_VECTOR_KEY, head)
    return keys, firsts, counts


def _splice(data: bytes) -> _Spliced | None:
    """Cut the all-float64 ``"vector"`` arrays out of ``data``; None if there are none."""
    keys, firsts, counts = _float64_arrays(data)
    if not keys:
        return None
    # The vectors' length is the most common one; arrays of other lengths stay in place.
    width = Counter(counts).most_common(1)[0][0]
    chosen = [index for index, count in enumerate(counts) if count == width]
    span = width * _ITEM_SIZE
    # Tags from 2^31 up are unassigned, so cbor2 hands them back as plain CBORTag objects.
    tag = (1 << 31) | secrets.randbits(31)
    head = b"\xda" + tag.to_bytes(4, "big") + b"\x1a"
    octets = np.frombuffer(data, dtype=np.uint8)
    # Row copies into one array: cheaper than joining memoryviews, and no garbage to collect.
    items = np.empty((len(chosen), span), dtype=np.uint8)
    pieces: list[bytes] = []
    previous = 0
    for ordinal, index in enumerate(chosen):
        first = firsts[index]
        items[ordinal] = octets[first : first + span]
        pieces += (data[previous : keys[index] + _KEY_SIZE], head + ordinal.to_bytes(4, "big"))
        previous = first + span
    pieces.append(data[previous:])
    values = items.view(_ITEM)["value"]
    return _Spliced(vectors=to_float32(values), rest=b"".join(pieces), tag=tag)


def decode_fast(data: bytes, label: int) -> RawChunk | None:
    """Decode an s5.js-style CBOR chunk without per-float objects; None to defer to general."""
    if not data or data[0] >> 5 != _MAJOR_MAP:
        return None
    spliced = _splice(data)
    if spliced is None:
        return None
    try:
        value = load_cbor(spliced.rest)
        if not isinstance(value, dict):
            return None
        wire = msgspec.convert(value, WireChunk[Any, Any])
    except (NotPlaintext, msgspec.ValidationError):
        return None
    entries = wire.vectors
    found = spliced.vectors.shape[0]
    width = spliced.vectors.shape[1]
    ordinals = [
        entry.vector.value
        if isinstance(entry.vector, cbor2.CBORTag) and entry.vector.tag == spliced.tag
        else None
        for entry in entries
    ]
    if [ordinal for ordinal in ordinals if ordinal is not None] != list(range(found)):
        return None
    if found == len(entries):
        vectors = spliced.vectors
    else:
        vectors = np.empty((len(entries), width), dtype=np.float32)
        vectors[[index for index, o in enumerate(ordinals) if o is not None]] = spliced.vectors
        for index, ordinal in enumerate(ordinals):
            if ordinal is None:
                try:
                    row = msgspec.convert(entries[index].vector, list[float])
                except msgspec.ValidationError:
                    return None
                if len(row) != width:
                    return None
                vectors[index] = to_float32(np.array(row, dtype=np.float64))
    try:
        metadata = json_metadata([entry.metadata for entry in entries], label)
    except ChunkParseError:
        return None
    return RawChunk(
        chunk_id=wire.chunk_id,
        ids=ids_as_text([entry.id for entry in entries]),
        vectors=vectors,
        metadata=metadata,
    )
