"""The manifest and chunk schemas of SPEC section 5, declared once as msgspec structs.

Field names are camelCase on the wire (``rename="camel"``); unknown fields are ignored.
Required, because every deployed client writes them: ``name``, ``owner``, ``vectorCount``,
``chunks``, ``chunkCount`` (manifest) and ``chunkId``, ``cid``, ``vectorCount`` (chunk
entry). Everything else may be absent. ``sizeBytes`` / ``storageSizeBytes`` are
informational and never checked. Times are integer ms since the epoch; s5.js writes those
above 2^32 as float64, which decoding accepts when the float is a whole number.

A manifest that contradicts itself is refused when it is built (decoded or constructed):
chunk ids exactly ``0..n-1``, ``chunkCount == len(chunks)``, the chunk counts add up to
``vectorCount``, ``dimensions`` in ``1..4096``, counts ``>= 0``.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

import msgspec
import numpy as np
import numpy.typing as npt

MAX_DIMENSIONS = 4096
"""Longest vector accepted (SPEC section 7, ``DIMENSION_MISMATCH``)."""

NonNegative = Annotated[int, msgspec.Meta(ge=0)]
Dimensions = Annotated[int, msgspec.Meta(ge=1, le=MAX_DIMENSIONS)]


class ChunkEntry(msgspec.Struct, rename="camel", frozen=True):
    """One chunk as the manifest lists it; ``cid`` is an S5 CID or, as clients write, a path."""

    chunk_id: NonNegative
    cid: str
    vector_count: NonNegative
    size_bytes: Any = 0  # informational: clients write 0, never validated (SPEC section 5)
    updated_at: int = 0


class Manifest(msgspec.Struct, rename="camel", kw_only=True, frozen=True):
    """A vector database manifest (``manifest.json``), validated on construction."""

    name: str
    owner: str
    description: str | None = None
    dimensions: Dimensions | None = None
    vector_count: NonNegative
    storage_size_bytes: Any = 0  # informational, never validated
    created: int = 0
    last_accessed: int = 0
    updated: int = 0
    chunks: list[ChunkEntry]
    chunk_count: NonNegative
    folder_paths: list[str] = []
    deleted: bool = False
    pending_documents: list[dict[str, Any]] | None = None
    ready_documents: list[dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        """Refuse a manifest whose chunk list contradicts its own counts."""
        if self.chunk_count != len(self.chunks):
            raise ValueError(
                f"chunkCount is {self.chunk_count} but the manifest lists {len(self.chunks)} chunks"
            )
        ids = sorted(entry.chunk_id for entry in self.chunks)
        if ids != list(range(len(ids))):
            raise ValueError(f"chunk ids must be exactly 0..{len(ids) - 1}, each once")
        total = sum(entry.vector_count for entry in self.chunks)
        if total != self.vector_count:
            raise ValueError(
                f"vectorCount is {self.vector_count} but the chunks hold {total} vectors"
            )


class VectorRecord(msgspec.Struct):
    """One vector to encode: its id, components (a list or an array) and metadata."""

    id: str
    vector: list[float] | npt.NDArray[np.floating[Any]]
    metadata: dict[str, Any] = {}


V = TypeVar("V")
M = TypeVar("M")


# gc=False: decoded wire structs never form reference cycles, and untracked they cost the
# cyclic garbage collector nothing while tens of thousands of them exist during a decode.
class WireVector(msgspec.Struct, Generic[V, M], gc=False):
    """A chunk's vector entry as stored; ``V`` / ``M`` pick how strictly a decoder reads it."""

    id: str | int
    vector: V
    metadata: M | None = None


class WireChunk(msgspec.Struct, Generic[V, M], rename="camel", gc=False):
    """A chunk file as stored: ``{"chunkId", "vectors": [{"id", "vector", "metadata"}]}``."""

    chunk_id: int
    vectors: list[WireVector[V, M]]
