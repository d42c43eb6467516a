"""Databases for loader tests, written with the real formats encoders, good and crafted bad."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from s5vec.formats import ChunkEntry, Format, Manifest, encode_chunk, encode_manifest
from s5vec.formats.paths import chunk_path
from s5vec.storage.base import Storage

OWNER = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
OTHER_OWNER = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
KEY = bytes(range(32))
OTHER_KEY = bytes([7]) * 32


def db_path(name: str = "docs", owner: str = OWNER) -> str:
    """The manifest path of database ``name`` of ``owner``."""
    return f"home/vector-databases/{owner}/{name}/manifest.json"


def rows(count: int, dims: int, seed: int = 0) -> npt.NDArray[np.float64]:
    """``count`` random vectors of ``dims`` components."""
    return np.random.default_rng(seed).normal(size=(count, dims))


def chunk_file(
    chunk_id: int,
    vectors: npt.NDArray[np.float64],
    *,
    ids: list[str] | None = None,
    fmt: Format = "cbor",
    key: bytes | None = None,
) -> bytes:
    """One encoded chunk; ids default to ``c<chunk>-<row>``."""
    ids = ids if ids is not None else [f"c{chunk_id}-{row}" for row in range(len(vectors))]
    metadata = [{"chunk": chunk_id, "row": row} for row in range(len(vectors))]
    return encode_chunk(chunk_id, (ids, vectors, metadata), fmt, key)


def manifest_file(
    counts: tuple[int, ...],
    dims: int | None,
    *,
    name: str = "docs",
    owner: str = OWNER,
    deleted: bool = False,
    fmt: Format = "cbor",
    key: bytes | None = None,
    cids: Mapping[int, str] | None = None,
) -> bytes:
    """An encoded manifest listing one chunk per entry of ``counts``."""
    path = db_path(name)
    entries = [
        ChunkEntry(
            chunk_id=index,
            cid=(cids or {}).get(index, chunk_path(path, index)),
            vector_count=count,
        )
        for index, count in enumerate(counts)
    ]
    manifest = Manifest(
        name=name,
        owner=owner,
        dimensions=dims,
        vector_count=sum(counts),
        chunks=entries,
        chunk_count=len(entries),
        deleted=deleted,
    )
    return encode_manifest(manifest, fmt, key)


def database(
    counts: tuple[int, ...] = (4, 3, 5),
    dims: int = 8,
    *,
    name: str = "docs",
    manifest_dims: bool = True,
    fmt: Format = "cbor",
    key: bytes | None = None,
    seed: int = 0,
    **manifest_changes: Any,
) -> dict[str, bytes]:
    """Every file of a valid database: path -> bytes."""
    path = db_path(name)
    files = {
        chunk_path(path, index): chunk_file(
            index, rows(count, dims, seed + index), fmt=fmt, key=key
        )
        for index, count in enumerate(counts)
    }
    files[path] = manifest_file(
        counts, dims if manifest_dims else None, name=name, fmt=fmt, key=key, **manifest_changes
    )
    return files


async def write(storage: Storage, files: Mapping[str, bytes]) -> None:
    """Store every file."""
    for path, data in files.items():
        await storage.put(path, data)


def chunk_paths(files: Mapping[str, bytes]) -> list[str]:
    """The chunk paths among ``files``."""
    return sorted(path for path in files if not path.endswith("manifest.json"))
