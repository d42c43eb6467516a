"""Builders for format tests: manifests, chunk entries and raw CBOR/JSON chunk files."""

from __future__ import annotations

from typing import Any

import cbor2
import orjson

from s5vec.formats import ChunkEntry, Manifest

OWNER = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
KEY = bytes(range(32))
OTHER_KEY = bytes([7]) * 32


def entry(chunk_id: int = 0, vector_count: int = 1) -> ChunkEntry:
    """A chunk entry whose cid is the chunk's path, as current clients write it."""
    return ChunkEntry(chunk_id=chunk_id, cid=f"db/chunk-{chunk_id}.json", vector_count=vector_count)


def manifest(counts: tuple[int, ...] = (2,), dimensions: int | None = 3) -> Manifest:
    """A valid manifest with one chunk per entry of ``counts``."""
    return Manifest(
        name="db",
        owner=OWNER,
        dimensions=dimensions,
        vector_count=sum(counts),
        chunks=[entry(index, count) for index, count in enumerate(counts)],
        chunk_count=len(counts),
    )


def manifest_dict(**changes: Any) -> dict[str, Any]:
    """A valid manifest as a plain camelCase map, with ``changes`` applied (None deletes)."""
    value: dict[str, Any] = {
        "name": "db",
        "owner": OWNER,
        "vectorCount": 3,
        "chunks": [
            {"chunkId": 0, "cid": "c0", "vectorCount": 1},
            {"chunkId": 1, "cid": "c1", "vectorCount": 2},
        ],
        "chunkCount": 2,
    }
    for name, change in changes.items():
        if change is None:
            value.pop(name, None)
        else:
            value[name] = change
    return value


def chunk_dict(vectors: list[Any], chunk_id: int = 0, **extra: Any) -> dict[str, Any]:
    """A chunk map with vectors given as (id, vector) pairs or as ready-made maps."""
    entries = [
        item if isinstance(item, dict) else {"id": item[0], "vector": item[1], "metadata": {}}
        for item in vectors
    ]
    return {"chunkId": chunk_id, "vectors": entries, **extra}


def cbor(value: Any, canonical: bool = False) -> bytes:
    """Encode with cbor2: floats as float64, or as the shortest exact float when canonical."""
    return bytes(cbor2.dumps(value, canonical=canonical))


def json(value: Any) -> bytes:
    """Encode as JSON."""
    return orjson.dumps(value)
