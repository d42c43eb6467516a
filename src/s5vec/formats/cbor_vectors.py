"""CBOR chunk decoding: a vectorised path for what s5.js writes, and the general decoder.

s5.js (cbor-x, ``useFloat32: 0``) writes each vector as ``"vector"`` followed by an array of
float64 items, ``0xfb`` + 8 bytes each: a fixed 9-byte stride. The fast path

1. finds each ``0x66 "vector"`` (``bytes.find``) and the array header after it (``0x81..0x97``,
   ``0x98 n``, ``0x99 nn``, ``0x9a nnnn``) and resumes the search after the ``n`` 9-byte items
   the array has if it is all float64, so float payloads are not scanned;
2. checks that assumption for all arrays of the most common length at once: numpy views the
   file with strides ``(1, 9)``, so one fancy index gathers every array's tag bytes (all
   ``0xfb``: the array is exactly ``n`` float64 items, by induction on the items) and another
   its ``>f8`` values, rounded to float32: no per-float Python object is ever made. An array
   that fails the check (or has another length) is left in place, and so is any vector
   whose key the skip over a failed array jumped past;
3. splices each such array out of the file, leaving a 10-byte placeholder (a CBOR tag whose
   8-byte number is drawn at random for this decode in its high half and is the array's
   ordinal in its low half, on ``null``), and decodes the rest with ``cbor2.loads``, as the
   first item of a two-item array whose second item is one more placeholder (that it comes
   back proves the file held exactly one item: ``loads`` ignores trailing bytes);
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
_PLACEHOLDER = np.dtype([("head", "u1"), ("tag", ">u8"), ("null", "u1")])
_VECTOR_KEY = b"\x66vector"
_PAIR = b"\x82"  # header of a two-item CBOR array
_BLOCK = 256  # rows gathered at a time: 768 KB of float64 at 384 dimensions
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
    base: int


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


def _candidates(data: bytes) -> tuple[list[int], list[int], list[int]]:
    """Key offsets, first-item offsets and counts of every ``"vector"`` key + array header.

    Each array is taken to be all-float64 (9-byte items) and the search resumes after it, so
    the float payloads, almost all of the file, are never scanned for keys. The caller checks
    the items; an array that fails keeps its place in the file, and a key the skip jumped
    over only leaves that vector in place too (the ordinal check in ``decode_fast`` vouches
    for whatever is spliced).
    """
    keys: list[int] = []
    firsts: list[int] = []
    counts: list[int] = []
    find, size = data.find, len(data)
    at = find(_VECTOR_KEY)
    while at >= 0:
        head = at + _KEY_SIZE
        if head + 5 > size:  # too close to the end for a header and one item
            break
        if data[head] == 0x99:  # inlined: the header of every common embedding size
            count, first = (data[head + 1] << 8) | data[head + 2], head + 3
        else:
            count, first = _array_at(data, head)
        stop = first + count * _ITEM_SIZE
        if 0 < count <= MAX_DIMENSIONS and stop <= size:
            keys.append(at)
            firsts.append(first)
            counts.append(count)
            at = find(_VECTOR_KEY, stop)
        else:
            at = find(_VECTOR_KEY, head)
    return keys, firsts, counts


def _items(data: bytes, width: int, dtype: npt.DTypeLike) -> npt.NDArray[Any]:
    """A read-only view whose row ``i`` is the ``width`` values 9 bytes apart from byte ``i``."""
    kind = np.dtype(dtype)
    rows = len(data) - (width - 1) * _ITEM_SIZE - kind.itemsize + 1
    return np.ndarray((rows, width), dtype=kind, buffer=data, strides=(1, _ITEM_SIZE))


def _gather(
    data: bytes, firsts: npt.NDArray[np.intp], width: int
) -> tuple[npt.NDArray[np.bool_], Float32Matrix]:
    """Which arrays are all float64 (every item tagged ``0xfb``), and their items as float32.

    Fancy indexing gathers the rows in C; blocks keep the float64 temporaries in cache. Rows
    of arrays that are not all float64 hold garbage: the caller drops them.
    """
    tags, values = _items(data, width, np.uint8), _items(data, width, ">f8")
    out = np.empty((len(firsts), width), dtype=np.float32)
    ok = np.empty(len(firsts), dtype=np.bool_)
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, len(firsts), _BLOCK):
            block = firsts[start : start + _BLOCK]
            np.all(tags[block] == 0xFB, axis=1, out=ok[start : start + len(block)])
            # Round to float32 (nearest, ties to even), as ``to_float32`` does.
            np.copyto(out[start : start + len(block)], values[block + 1], casting="unsafe")
    return ok, out


def _placeholders(base: int, count: int) -> list[bytes]:
    """Placeholder ``k``: the CBOR item ``tag(base + k, null)``, with an 8-byte tag number."""
    rows = np.empty(count, dtype=_PLACEHOLDER)
    rows["head"], rows["null"] = 0xDB, 0xF6
    rows["tag"] = np.arange(base, base + count, dtype=np.uint64)
    # As 10-byte strings numpy makes the bytes objects in C (no trailing NUL to strip).
    placeholders: list[bytes] = rows.view("S10").tolist()
    return placeholders


def _chosen(
    data: bytes, keys: list[int], firsts: list[int], counts: list[int]
) -> tuple[list[int], npt.NDArray[np.intp], Float32Matrix] | None:
    """Keys, first items and float32 rows of the all-float64 arrays of the most common length.

    Every other array stays in place, read by cbor2 with the rest; None if none qualifies.
    """
    if not keys:
        return None
    width = Counter(counts).most_common(1)[0][0]
    chosen = np.asarray(counts, dtype=np.intp) == width
    starts = np.asarray(firsts, dtype=np.intp)[chosen]
    cut = np.asarray(keys, dtype=np.intp)[chosen]
    ok, vectors = _gather(data, starts, width)
    if not ok.all():
        # One integer or float32 item costs only its own vector (it is read with the rest).
        cut, starts, vectors = cut[ok], starts[ok], vectors[ok]
        if not len(cut):
            return None
    return cut.tolist(), starts, vectors


def _splice(data: bytes) -> _Spliced | None:
    """Cut the all-float64 ``"vector"`` arrays out of ``data``; None if there are none."""
    found = _chosen(data, *_candidates(data))
    if found is None:
        return None
    cut, starts, vectors = found
    # Tag numbers from 2^31 up are unassigned, so cbor2 hands them back as plain CBORTag
    # objects; the high half is drawn at random for this decode, the low half is the ordinal.
    base = (1 << 63) | (secrets.randbits(31) << 32)
    # Segment k runs from the end of array k-1 to array k's header (just after its key).
    view = memoryview(data)
    begins = [0, *(starts + vectors.shape[1] * _ITEM_SIZE).tolist()]
    ends = [*(key + _KEY_SIZE for key in cut), len(data)]
    # The rest is wrapped as item 0 of a two-item array whose item 1 is one more placeholder
    # (ordinal len(cut)): cbor2.loads ignores trailing bytes (and reads faster than a
    # decoder on a stream), so that placeholder coming back as item 1 proves the file was
    # exactly one CBOR item.
    pieces: list[bytes | memoryview] = [b""] * (2 * len(begins) + 1)
    pieces[0] = _PAIR
    pieces[1::2] = [view[begin:end] for begin, end in zip(begins, ends, strict=True)]
    pieces[2::2] = _placeholders(base, len(cut) + 1)
    return _Spliced(vectors=vectors, rest=b"".join(pieces), base=base)


def decode_fast(data: bytes, label: int) -> RawChunk | None:
    """Decode an s5.js-style CBOR chunk without per-float objects; None to defer to general."""
    if not data or data[0] >> 5 != _MAJOR_MAP:
        return None
    spliced = _splice(data)
    if spliced is None:
        return None
    found = spliced.vectors.shape[0]
    width = spliced.vectors.shape[1]
    tag_type, high = cbor2.CBORTag, spliced.base >> 32
    try:
        pair = cbor2.loads(spliced.rest)
    except Exception:  # cbor2 is foreign code fed untrusted bytes: any failure defers
        return None
    end = pair[1] if type(pair) is list and len(pair) == 2 else None
    if type(end) is not tag_type or end.tag != spliced.base + found or end.value is not None:
        return None
    if not isinstance(pair[0], dict):
        return None
    try:
        wire = msgspec.convert(pair[0], WireChunk[Any, Any])
    except msgspec.ValidationError:
        return None
    entries = wire.vectors
    ordinals = [
        entry.vector.tag - spliced.base
        if type(entry.vector) is tag_type and entry.vector.tag >> 32 == high
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
