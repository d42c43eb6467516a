"""Files written by the real JavaScript encoder (cbor-x with s5.js settings) read bit-exactly.

The fixtures and their JSON sidecars come from tests/fixtures/cbor-x/gen.mjs (see README.md
there); no node is needed to run these tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from s5vec.formats import (
    ChunkEntry,
    VectorRecord,
    decode_chunk,
    decode_manifest,
    encode_chunk,
    encode_manifest,
)
from s5vec.formats.cbor_vectors import decode_fast, decode_general

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cbor-x"


def sidecar(database: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / database / "expected.json").read_text())
    return loaded


def read(database: str, name: str) -> bytes:
    return (FIXTURES / database / name).read_bytes()


def expected_vectors(chunk: dict[str, Any]) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The sidecar's float64 values rounded once to float32, as np.float32(value) does."""
    return np.array([item["vector"] for item in chunk["vectors"]], np.float64).astype(np.float32)


def entry_for(database: str, chunk_id: int) -> ChunkEntry:
    return decode_manifest(read(database, "manifest.cbor"), None).manifest.chunks[chunk_id]


@pytest.mark.parametrize("database", ["small", "wide"])
def test_manifest_decodes_to_what_javascript_wrote(database: str) -> None:
    written = sidecar(database)["manifest"]
    decoded = decode_manifest(read(database, "manifest.cbor"), None)
    assert decoded.format == "cbor"
    found = decoded.manifest
    assert found.name == written["name"]
    assert found.owner == written["owner"]
    assert found.created == written["created"]
    assert found.dimensions == written["dimensions"]
    assert found.pending_documents == written["pendingDocuments"]
    assert [chunk.updated_at for chunk in found.chunks] == [
        chunk["updatedAt"] for chunk in written["chunks"]
    ]


@pytest.mark.parametrize(("database", "chunk_id"), [("small", 0), ("small", 1), ("wide", 0)])
def test_chunk_decodes_bit_exactly(database: str, chunk_id: int) -> None:
    written = sidecar(database)["chunks"][chunk_id]
    dimensions = sidecar(database)["manifest"]["dimensions"]
    data = read(database, f"chunk-{chunk_id}.cbor")
    chunk = decode_chunk(data, None, entry_for(database, chunk_id), dimensions)
    assert chunk.vectors.tobytes() == expected_vectors(written).tobytes()
    assert chunk.ids == [item["id"] for item in written["vectors"]]
    # The sidecar writes JavaScript undefined as null; absent metadata reads as {}.
    assert chunk.metadata == [item.get("metadata") or {} for item in written["vectors"]]


def test_javascript_json_chunk_matches_its_cbor_twin() -> None:
    entry = entry_for("small", 0)
    from_json = decode_chunk(read("small", "chunk-0.json"), None, entry, 4)
    from_cbor = decode_chunk(read("small", "chunk-0.cbor"), None, entry, 4)
    assert from_json.vectors.tobytes() == from_cbor.vectors.tobytes()
    assert from_json.metadata == from_cbor.metadata


@pytest.mark.parametrize(
    ("database", "name", "chunk_id"),
    [
        ("small", "manifest.cbor.aesgcm", None),
        ("small", "chunk-1.cbor.aesgcm", 1),
        ("wide", "chunk-0.cbor.aesgcm", 0),
    ],
)
def test_web_crypto_aes_gcm_files_open(database: str, name: str, chunk_id: int | None) -> None:
    key = bytes.fromhex(sidecar(database)["key"])
    if chunk_id is None:
        decoded = decode_manifest(read(database, name), key)
        assert decoded.encrypted is True
        assert decoded.manifest == decode_manifest(read(database, "manifest.cbor"), None).manifest
        return
    chunk = decode_chunk(read(database, name), key, entry_for(database, chunk_id), None)
    assert chunk.encrypted is True
    written = sidecar(database)["chunks"][chunk_id]
    assert chunk.vectors.tobytes() == expected_vectors(written).tobytes()


def test_fast_path_reads_the_embedding_chunk_and_defers_on_the_tricky_one() -> None:
    wide = read("wide", "chunk-0.cbor")
    fast = decode_fast(wide, 0)
    assert fast is not None
    assert fast.vectors.tobytes() == decode_general(wide, 0).vectors.tobytes()
    # chunk-1 has a metadata "vector" of the vectors' own length: only the general path knows.
    assert decode_fast(read("small", "chunk-1.cbor"), 1) is None


@pytest.mark.parametrize("database", ["small", "wide"])
def test_manifest_encoder_writes_what_s5js_writes(database: str) -> None:
    original = read(database, "manifest.cbor")
    assert encode_manifest(decode_manifest(original, None).manifest, "cbor") == original


@pytest.mark.parametrize(("database", "chunk_id"), [("small", 0), ("wide", 0)])
def test_chunk_encoder_writes_what_s5js_writes(database: str, chunk_id: int) -> None:
    written = sidecar(database)["chunks"][chunk_id]
    records = [
        VectorRecord(id=item["id"], vector=item["vector"], metadata=item["metadata"])
        for item in written["vectors"]
    ]
    assert encode_chunk(chunk_id, records, "cbor") == read(database, f"chunk-{chunk_id}.cbor")


def test_top_level_keys_sort_as_javascript_locale_compare() -> None:
    order = json.loads((FIXTURES / "key-order.json").read_text())
    assert order == sorted(order)
