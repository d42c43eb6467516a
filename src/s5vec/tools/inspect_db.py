"""Read a published database back and validate every chunk against its manifest."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from s5vec.errors import (
    ChunkDownloadFailed,
    ChunkParseError,
    ManifestDownloadFailed,
    ManifestNotFound,
    NotFound,
    StorageError,
)
from s5vec.formats import DecodedManifest, decode_chunk, decode_manifest
from s5vec.formats.paths import chunk_path, validate_manifest_path
from s5vec.storage.base import Storage


@dataclass(frozen=True, slots=True)
class InspectReport:
    """A database that decoded and validated completely."""

    manifest_path: str
    decoded: DecodedManifest
    dimensions: int | None
    vector_count: int
    encrypted_chunks: int


async def _fetch(storage: Storage, path: str, *, manifest: bool) -> bytes:
    try:
        return await storage.get(path)
    except NotFound:
        if manifest:
            raise ManifestNotFound() from None
        raise ChunkDownloadFailed(f"Chunk file {path.rsplit('/', 1)[-1]} is missing") from None
    except StorageError as exc:
        failure = ManifestDownloadFailed if manifest else ChunkDownloadFailed
        raise failure(exc.message) from None


async def inspect_database(
    storage: Storage,
    manifest_path: str,
    key: bytes | None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> InspectReport:
    """Decode the manifest and every chunk it lists; the first fault raises its error."""
    validate_manifest_path(manifest_path)
    decoded = await asyncio.to_thread(
        decode_manifest, await _fetch(storage, manifest_path, manifest=True), key
    )
    manifest = decoded.manifest
    dimensions = manifest.dimensions
    seen: set[str] = set()
    encrypted = 0
    for done, entry in enumerate(sorted(manifest.chunks, key=lambda e: e.chunk_id), start=1):
        data = await _fetch(storage, chunk_path(manifest_path, entry.chunk_id), manifest=False)
        chunk = await asyncio.to_thread(decode_chunk, data, key, entry, dimensions)
        if chunk.vectors.shape[0]:
            dimensions = chunk.vectors.shape[1]
        before = len(seen)
        seen.update(chunk.ids)
        if len(seen) - before != len(chunk.ids):
            raise ChunkParseError(f"Chunk {entry.chunk_id} repeats a vector id of another chunk")
        encrypted += chunk.encrypted
        if on_chunk is not None:
            on_chunk(done, manifest.chunk_count)
    return InspectReport(manifest_path, decoded, dimensions, len(seen), encrypted)
