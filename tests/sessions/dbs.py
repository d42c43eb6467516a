"""Databases and identities for session tests, written with the real formats encoders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from s5vec.crypto.ethereum import address_from_public_key
from s5vec.crypto.secp256k1 import generate_private_key, public_key_from_private
from s5vec.formats import ChunkEntry, Format, Manifest, encode_chunk, encode_manifest
from s5vec.formats.paths import chunk_path
from s5vec.storage.base import Storage

KEY = bytes(range(32))
"""The session key (AES-256-GCM key) of the encrypted test databases."""
OTHER_KEY = bytes([7]) * 32


@dataclass(frozen=True)
class User:
    """A client identity: secp256k1 private key and its checksummed address."""

    private_key: bytes = field(repr=False)
    address: str

    @classmethod
    def new(cls) -> User:
        """A fresh random user."""
        private = generate_private_key()
        return cls(private, address_from_public_key(public_key_from_private(private)))


def db_path(owner: str, name: str = "docs") -> str:
    """The manifest path of database ``name`` of ``owner``."""
    return f"home/vector-databases/{owner}/{name}/manifest.json"


@dataclass(frozen=True)
class Database:
    """A database's content: per chunk, ids, vectors (float64) and metadata."""

    owner: str
    name: str
    chunks: list[tuple[list[str], npt.NDArray[np.float64], list[dict[str, Any]]]]

    @property
    def path(self) -> str:
        """Its manifest path."""
        return db_path(self.owner, self.name)

    @property
    def vector_count(self) -> int:
        """Vectors over all chunks."""
        return sum(len(ids) for ids, _, _ in self.chunks)

    @property
    def dims(self) -> int | None:
        """Vector length (None for a database without vectors)."""
        return int(self.chunks[0][1].shape[1]) if self.chunks else None

    def files(self, *, key: bytes | None = None, fmt: Format = "cbor") -> dict[str, bytes]:
        """Every file (path -> bytes), AES-GCM encrypted with ``key`` if given."""
        out = {
            chunk_path(self.path, index): encode_chunk(index, chunk, fmt, key)
            for index, chunk in enumerate(self.chunks)
        }
        entries = [
            ChunkEntry(chunk_id=index, cid=chunk_path(self.path, index), vector_count=len(c[0]))
            for index, c in enumerate(self.chunks)
        ]
        manifest = Manifest(
            name=self.name,
            owner=self.owner,
            dimensions=self.dims,
            vector_count=self.vector_count,
            chunks=entries,
            chunk_count=len(entries),
        )
        out[self.path] = encode_manifest(manifest, fmt, key)
        return out


def database(
    owner: str,
    counts: Sequence[int] = (4, 3, 5),
    dims: int = 8,
    *,
    name: str = "docs",
    seed: int = 0,
    tags: Sequence[str] = ("a", "b", "c"),
) -> Database:
    """Random vectors with ids ``db-<chunk>-<row>`` and metadata ``{"tag", "chunk"}``."""
    rng = np.random.default_rng(seed)
    chunks = []
    for index, count in enumerate(counts):
        ids = [f"db-{index}-{row}" for row in range(count)]
        vectors = rng.normal(size=(count, dims))
        metadata: list[dict[str, Any]] = [
            {"tag": tags[(index + row) % len(tags)], "chunk": index} for row in range(count)
        ]
        chunks.append((ids, vectors, metadata))
    return Database(owner, name, chunks)


async def write(storage: Storage, files: Mapping[str, bytes]) -> None:
    """Store every file."""
    for path, data in files.items():
        await storage.put(path, data)
