"""Storage formats (SPEC section 5): pure decoding, encoding and validation, no I/O.

A vector database is a manifest plus chunk files, each CBOR (what s5.js writes) or JSON
(what bridges and tools write), plaintext or AES-256-GCM encrypted; detection is per file.

- ``decode_manifest`` / ``decode_chunk``: bytes (and the session key, if any) to validated
  values, or the S5VecError SPEC section 7 names; garbage never raises anything else.
- ``encode_manifest`` / ``encode_chunk``: the inverse, writing CBOR byte for byte as s5.js.
- ``Manifest``, ``ChunkEntry``, ``VectorRecord``: the schema, declared once (``schema``).

CBOR chunks decode through a vectorised float64 path (``cbor_vectors``) with the general
decoder as its fallback. ``cid`` (S5 blob CIDs) and ``paths`` (database paths) live alongside.
"""

from s5vec.formats.codec import (
    ChunkColumns,
    DecodedChunk,
    DecodedManifest,
    decode_chunk,
    decode_manifest,
    encode_chunk,
    encode_manifest,
)
from s5vec.formats.plaintext import Format
from s5vec.formats.schema import MAX_DIMENSIONS, ChunkEntry, Manifest, VectorRecord

__all__ = [
    "MAX_DIMENSIONS",
    "ChunkColumns",
    "ChunkEntry",
    "DecodedChunk",
    "DecodedManifest",
    "Format",
    "Manifest",
    "VectorRecord",
    "decode_chunk",
    "decode_manifest",
    "encode_chunk",
    "encode_manifest",
]
