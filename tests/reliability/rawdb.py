"""Raw databases for hostile-storage tests: maps free to break every rule of SPEC section 5,
written as CBOR or JSON, plaintext or AES-256-GCM, and loaded through a host."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import cbor2

from s5vec.crypto.aesgcm import encrypt
from s5vec.storage.base import Storage
from tests.reliability.fuzzing import Target
from tests.reliability.harness import HOST_KEY, load_bound_s
from tests.reliability.wire import Frame, Peer, encrypted_init, plain_init
from tests.server.helpers import OWNER, OWNER_KEY

COMPLETE = "loading_complete"
DIMS = 4
NAMES = itertools.count()
"""Each written database gets a fresh name: one host serves many examples."""


@dataclass
class RawDb:
    """A database as raw maps, free to break every rule; ``outcomes``: what it may get."""

    manifest: dict[str, Any]
    chunks: dict[int, Any]
    outcomes: set[str]

    @property
    def vector_count(self) -> Any:
        """The manifest's ``vectorCount``."""
        return self.manifest.get("vectorCount")


def encode(value: Any, fmt: str, key: bytes | None) -> bytes:
    """``value`` as CBOR or JSON (NaN written as JSON text would: not JSON), then encrypted."""
    data = cbor2.dumps(value) if fmt == "cbor" else json.dumps(value, allow_nan=True).encode()
    return encrypt(key, data) if key is not None else data


def vector_rows(count: int, dims: int = DIMS, start: int = 0) -> list[dict[str, Any]]:
    """``count`` distinct vectors with ids ``v<n>``."""
    return [
        {
            "id": f"v{n}",
            "vector": [1.0 + n, float(n % 3), -0.5 * n, 0.25][:dims] + [0.5] * (dims - 4),
            "metadata": {"n": n},
        }
        for n in range(start, start + count)
    ]


def good_db(counts: tuple[int, ...] = (3, 2), dims: int | None = DIMS) -> RawDb:
    """A valid raw database."""
    chunks: dict[int, Any] = {}
    start = 0
    for chunk_id, count in enumerate(counts):
        chunks[chunk_id] = {"chunkId": chunk_id, "vectors": vector_rows(count, start=start)}
        start += count
    manifest: dict[str, Any] = {
        "name": "db",
        "owner": OWNER,
        "vectorCount": sum(counts),
        "storageSizeBytes": 0,
        "created": 1_700_000_000_000,
        "lastAccessed": 1_700_000_000_000,
        "updated": 1_700_000_000_000,
        "chunks": [
            {"chunkId": i, "cid": f"c{i}", "vectorCount": c, "sizeBytes": 0, "updatedAt": 0}
            for i, c in enumerate(counts)
        ],
        "chunkCount": len(counts),
        "folderPaths": [],
    }
    if dims is not None:
        manifest["dimensions"] = dims
    return RawDb(manifest, chunks, {COMPLETE})


def set_vector(db: RawDb, value: Any, chunk: int = 0, row: int = 0, at: int = 0) -> None:
    """Put ``value`` at component ``at`` of one vector."""
    db.chunks[chunk]["vectors"][row]["vector"][at] = value


def chunk_path(name: str, chunk_id: int) -> str:
    """The S5 path of chunk ``chunk_id`` of database ``name``."""
    return f"home/vector-databases/{OWNER}/{name}/chunk-{chunk_id}.json"


async def write_db(
    files: Storage, db: RawDb, fmt: str, key: bytes | None, name: str | None = None
) -> str:
    """Store ``db`` under ``name`` (default: a fresh one); return its manifest path."""
    name = name or f"hostile-{next(NAMES)}"
    for chunk_id, chunk in db.chunks.items():
        await files.put(chunk_path(name, chunk_id), encode(chunk, fmt, key))
    path = f"home/vector-databases/{OWNER}/{name}/manifest.json"
    await files.put(path, encode(db.manifest, fmt, key))
    return path


async def load(target: Target, path: str, key: bytes | None) -> tuple[Frame, Peer]:
    """Init a session on ``path`` (encrypted when ``key``); the terminal payload and socket."""
    if key is None:
        init = plain_init("s", path, OWNER)
    else:
        init = encrypted_init("s", HOST_KEY, OWNER_KEY, key, path, OWNER)
    ack, p = await target.exchange(init)
    assert ack["type"] == "session_init_ack", ack
    end = await p.outcome("s", wait_s=load_bound_s())
    assert p.terminals("s") == [end]
    return end, p
