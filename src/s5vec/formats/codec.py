"""Decode and encode manifests and chunks: CBOR or JSON, plaintext or AES-256-GCM.

Errors (SPEC sections 5 and 7), per file:

- not plaintext and no key: manifest ``INVALID_SESSION_KEY``, chunk ``CHUNK_PARSE_ERROR``;
- a key that fails authentication on bytes that are not plaintext: ``DECRYPTION_FAILED``;
- decodes but breaks the schema (or decrypts to something that is not CBOR/JSON):
  ``MANIFEST_PARSE_ERROR`` / ``CHUNK_PARSE_ERROR``;
- a chunk whose ``chunkId`` is not its entry's, or whose ids repeat: ``CHUNK_PARSE_ERROR``;
- a chunk holding another number of vectors than its entry: ``VECTOR_COUNT_MISMATCH``;
- vectors of differing length, of length 0 or over 4096, or unlike ``dimensions``:
  ``DIMENSION_MISMATCH``;
- NaN or infinite components, after rounding to float32: ``INVALID_VECTOR``.

Numbers in vectors may be any CBOR number (integer of any size within float64 range, half,
single or double float) or any JSON number; all are rounded to float32. Vector ids are text;
integer ids are accepted and become their decimal text. Messages name chunk numbers, vector
positions and counts, never ids, vector values, metadata, keys or other file contents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cbor2
import msgspec
import numpy as np
import numpy.typing as npt
import orjson

from s5vec.crypto import aesgcm
from s5vec.errors import (
    ChunkParseError,
    DimensionMismatch,
    InvalidSessionKey,
    InvalidVector,
    ManifestParseError,
    VectorCountMismatch,
)
from s5vec.formats.cbor_js import array_header, dumps_nested, dumps_top, text, vector_items
from s5vec.formats.cbor_vectors import (
    RawChunk,
    decode_fast,
    decode_general,
    ids_as_text,
    stack_rows,
    to_float32,
)
from s5vec.formats.envelope import open_file
from s5vec.formats.metadata import json_metadata
from s5vec.formats.plaintext import Format, NotPlaintext, format_order, load_map, looks_like_json
from s5vec.formats.schema import MAX_DIMENSIONS, ChunkEntry, Manifest, VectorRecord, WireChunk

ChunkColumns = tuple[Sequence[str], npt.NDArray[Any], Sequence[Mapping[str, Any]]]
"""A chunk's vectors as columns: ids, an (n, d) array, and one metadata mapping each."""


@dataclass(frozen=True, slots=True)
class DecodedManifest:
    """A validated manifest, whether its file was AES-GCM encrypted, and its format."""

    manifest: Manifest
    encrypted: bool
    format: Format


@dataclass(frozen=True, slots=True)
class DecodedChunk:
    """A validated chunk: ``vectors`` is float32, shape (n, d), C-contiguous."""

    chunk_id: int
    ids: list[str]
    vectors: npt.NDArray[np.float32]
    metadata: list[dict[str, Any]]
    encrypted: bool


# --- manifests --------------------------------------------------------------------------


def _without_undefined(value: Any) -> Any:
    """CBOR ``undefined`` (a JavaScript ``undefined`` property) as None, recursively."""
    if value is cbor2.undefined:
        return None
    if isinstance(value, dict):
        return {key: _without_undefined(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_undefined(item) for item in value]
    return value


def _drop_nulls(value: Any) -> Any:
    """A map without its null entries: a null optional field reads as an absent one."""
    if not isinstance(value, dict):
        return value
    return {key: item for key, item in value.items() if item is not None}


def _parse_manifest(data: bytes) -> tuple[Manifest, Format]:
    value, fmt = load_map(data)
    value = _drop_nulls(_without_undefined(value))
    chunks = value.get("chunks")
    if isinstance(chunks, list):
        value["chunks"] = [_drop_nulls(entry) for entry in chunks]
    try:
        # Not strict: s5.js writes times above 2^32 as float64, so whole floats must read as int.
        return msgspec.convert(value, Manifest, strict=False), fmt
    except msgspec.ValidationError as exc:
        raise ManifestParseError(
            f"The manifest is not a valid vector database manifest: {exc}"
        ) from None


def decode_manifest(data: bytes, key: bytes | None) -> DecodedManifest:
    """Decode and validate a manifest file (CBOR or JSON, plaintext or AES-GCM)."""
    (manifest, fmt), encrypted = open_file(
        data,
        key,
        _parse_manifest,
        not_plaintext=InvalidSessionKey,
        undecodable=lambda: ManifestParseError("The decrypted manifest is neither CBOR nor JSON"),
    )
    return DecodedManifest(manifest=manifest, encrypted=encrypted, format=fmt)


def encode_manifest(manifest: Manifest, fmt: Format = "cbor", key: bytes | None = None) -> bytes:
    """Write a manifest as s5.js (CBOR) or a tool (JSON) would; AES-GCM when a key is given."""
    fields = {
        name: value for name, value in msgspec.to_builtins(manifest).items() if value is not None
    }
    if fmt == "json":
        plaintext = orjson.dumps(fields)
    else:
        plaintext = dumps_top({name: dumps_nested(value) for name, value in fields.items()})
    return plaintext if key is None else aesgcm.encrypt(key, plaintext)


# --- chunks -----------------------------------------------------------------------------


_JSON_ROWS_AT_ONCE = 512
"""Vectors of a JSON chunk turned into Python floats at once (~200K floats, ~6 MB)."""


def _decode_json_chunk(data: bytes, label: int) -> RawChunk:
    if not looks_like_json(data):
        raise NotPlaintext()
    wire: WireChunk[Any, dict[str, Any]]
    try:
        # Vectors stay raw JSON text here (checked, not converted); ``_json_rows`` converts
        # them a batch at a time, so a 10K x 384 chunk never holds 3.84M floats at once and
        # no single call holds the GIL for the whole file (the event loop waits on it).
        wire = msgspec.json.decode(data, type=WireChunk[msgspec.Raw, dict[str, Any]])
        vectors = _json_rows([entry.vector for entry in wire.vectors])
    except msgspec.ValidationError:
        vectors = None
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise NotPlaintext() from None
    if vectors is None:
        # Something is wrong: decode it whole, as typed, for the error that names the place.
        try:
            wire = msgspec.json.decode(data, type=WireChunk[list[float], dict[str, Any]])
        except msgspec.ValidationError as exc:
            raise ChunkParseError(f"Chunk {label} breaks the chunk schema: {exc}") from None
        vectors = stack_rows([entry.vector for entry in wire.vectors], label)
    entries = wire.vectors
    return RawChunk(
        chunk_id=wire.chunk_id,
        ids=ids_as_text([entry.id for entry in entries]),
        vectors=vectors,
        metadata=json_metadata([entry.metadata for entry in entries], label),
    )


def _json_rows(raws: list[msgspec.Raw]) -> npt.NDArray[np.float32] | None:
    """Float32 rows of raw JSON number arrays, a batch at a time; None unless all one length.

    Raises msgspec.ValidationError when one is not an array of numbers.
    """
    if not raws:
        return np.empty((0, 0), dtype=np.float32)
    out: npt.NDArray[np.float32] | None = None
    for start in range(0, len(raws), _JSON_ROWS_AT_ONCE):
        batch = b",".join(raws[start : start + _JSON_ROWS_AT_ONCE])
        rows = msgspec.json.decode(b"[" + batch + b"]", type=list[list[float]])
        width = len(rows[0])
        if out is None:
            out = np.empty((len(raws), width), dtype=np.float32)
        if width != out.shape[1] or not all(len(row) == width for row in rows):
            return None
        out[start : start + len(rows)] = to_float32(np.array(rows, dtype=np.float64))
    return out


def _parse_chunk(data: bytes, label: int) -> RawChunk:
    for fmt in format_order(data):
        try:
            if fmt == "json":
                return _decode_json_chunk(data, label)
            return decode_fast(data, label) or decode_general(data, label)
        except NotPlaintext:
            continue
    raise NotPlaintext()


def _check_unique(ids: list[str], label: int) -> None:
    if len(set(ids)) == len(ids):
        return
    seen: dict[str, int] = {}
    for index, item in enumerate(ids):
        if item in seen:
            raise ChunkParseError(
                f"Chunk {label}: vectors {seen[item]} and {index} have the same id"
            )
        seen[item] = index


def _checked(raw: RawChunk, entry: ChunkEntry, dimensions: int | None) -> npt.NDArray[np.float32]:
    """Check a chunk against its manifest entry; return its vectors, shaped (n, d)."""
    label = entry.chunk_id
    if raw.chunk_id != label:
        raise ChunkParseError(f"Chunk {label}: the file says it is chunk {raw.chunk_id}")
    count = len(raw.ids)
    if count != entry.vector_count:
        raise VectorCountMismatch(
            f"Chunk {label} holds {count} vectors; the manifest says {entry.vector_count}"
        )
    if count == 0:
        return np.empty((0, dimensions or 0), dtype=np.float32)
    width = raw.vectors.shape[1]
    if not 1 <= width <= MAX_DIMENSIONS:
        raise DimensionMismatch(
            f"Chunk {label}: vectors have {width} dimensions; 1 to {MAX_DIMENSIONS} are accepted"
        )
    if dimensions is not None and width != dimensions:
        raise DimensionMismatch(
            f"Chunk {label}: vectors have {width} dimensions; the manifest says {dimensions}"
        )
    finite = np.isfinite(raw.vectors).all(axis=1)
    if not finite.all():
        index = int(np.argmin(finite))
        raise InvalidVector(
            f"Chunk {label}: vector {index} holds NaN or infinite values (after float32 rounding)"
        )
    _check_unique(raw.ids, label)
    return raw.vectors


def decode_chunk(
    data: bytes, key: bytes | None, entry: ChunkEntry, dimensions: int | None
) -> DecodedChunk:
    """Decode a chunk file and check it against its manifest entry and the dimension."""
    label = entry.chunk_id
    raw, encrypted = open_file(
        data,
        key,
        lambda plaintext: _parse_chunk(plaintext, label),
        not_plaintext=lambda: ChunkParseError(
            f"Chunk {label} is neither CBOR nor JSON (encrypted or damaged)"
        ),
        undecodable=lambda: ChunkParseError(f"Chunk {label} decrypts to neither CBOR nor JSON"),
    )
    return DecodedChunk(
        chunk_id=label,
        ids=raw.ids,
        vectors=_checked(raw, entry, dimensions),
        metadata=raw.metadata,
        encrypted=encrypted,
    )


def _columns(
    records: Sequence[VectorRecord] | ChunkColumns,
) -> tuple[list[str], npt.NDArray[np.float64], list[Mapping[str, Any]]]:
    """Ids, float64 rows and metadata from records or from columns."""
    if isinstance(records, tuple):
        ids, vectors, metadata = records
        rows = np.asarray(vectors, dtype=np.float64)
        ids, metadata = list(ids), list(metadata)
    else:
        ids = [record.id for record in records]
        metadata = [record.metadata for record in records]
        rows = np.array([np.asarray(r.vector, dtype=np.float64) for r in records], dtype=np.float64)
    if not ids:
        rows = rows.reshape(0, 0)
    if rows.ndim != 2 or len(ids) != rows.shape[0] or len(metadata) != len(ids):
        raise ValueError("ids, vectors (n, d) and metadata must describe the same n vectors")
    return ids, np.ascontiguousarray(rows), metadata


def encode_chunk(
    chunk_id: int,
    records: Sequence[VectorRecord] | ChunkColumns,
    fmt: Format = "cbor",
    key: bytes | None = None,
) -> bytes:
    """Write a chunk as s5.js (CBOR) or a tool (JSON) would; AES-GCM when a key is given."""
    ids, rows, metadata = _columns(records)
    if fmt == "json":
        plaintext = orjson.dumps(
            {
                "chunkId": chunk_id,
                "vectors": [
                    {"id": item, "vector": row, "metadata": meta}
                    for item, row, meta in zip(ids, rows, metadata, strict=True)
                ],
            },
            option=orjson.OPT_SERIALIZE_NUMPY,
        )
    else:
        parts = [array_header(len(ids))]
        record_head = b"\xb9\x00\x03" + text("id")
        vector_key, metadata_key = text("vector"), text("metadata")
        for item, vector, meta in zip(ids, vector_items(rows), metadata, strict=True):
            parts += [record_head, text(item), vector_key, vector, metadata_key]
            parts.append(dumps_nested(dict(meta)))
        plaintext = dumps_top({"chunkId": dumps_nested(chunk_id), "vectors": b"".join(parts)})
    return plaintext if key is None else aesgcm.encrypt(key, plaintext)
