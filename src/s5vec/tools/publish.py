"""Publish vectors into a store in exactly the layout S5 clients write (SPEC section 5).

Chunks are written first (``chunk-<N>.json``, N from 0), the manifest last, so a reader
never sees a manifest whose chunks are not there yet. Encoding runs in worker threads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from s5vec.crypto import aesgcm
from s5vec.formats import ChunkEntry, Format, Manifest, encode_chunk, encode_manifest
from s5vec.formats.paths import chunk_path, validate_manifest_path, validate_user_address
from s5vec.storage.base import Storage
from s5vec.tools.sources import Batch, SourceError, VectorSource

DEFAULT_CHUNK_SIZE = 10_000
MAX_CHUNK_SIZE = 1_000_000


@dataclass(frozen=True, slots=True)
class PublishOptions:
    """Who owns the database, what it is called, and how its files are written."""

    owner: str
    name: str
    fmt: Format = "cbor"
    key: bytes | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    description: str | None = None

    @property
    def manifest_path(self) -> str:
        """``home/vector-databases/<owner>/<name>/manifest.json``, validated."""
        validate_user_address(self.owner)
        path = f"home/vector-databases/{self.owner}/{self.name}/manifest.json"
        validate_manifest_path(path)
        return path


@dataclass(frozen=True, slots=True)
class PublishResult:
    """Where the manifest went and what it holds."""

    manifest_path: str
    vector_count: int
    chunk_count: int
    bytes_written: int


ChunkWritten = Callable[[int, int], None]
"""Progress callback: (vectors written so far, vectors in total)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


async def publish(
    source: VectorSource,
    storage: Storage,
    options: PublishOptions,
    on_chunk: ChunkWritten | None = None,
) -> PublishResult:
    """Write ``source`` as a database into ``storage`` and return its manifest path."""
    if not 1 <= options.chunk_size <= MAX_CHUNK_SIZE:
        raise SourceError(f"chunk size must be 1..{MAX_CHUNK_SIZE}")
    if options.key is not None and len(options.key) != aesgcm.KEY_SIZE:
        raise SourceError(f"the encryption key must be {aesgcm.KEY_SIZE} bytes (AES-256)")
    manifest_path = options.manifest_path
    seen: set[str] = set()
    entries: list[ChunkEntry] = []
    written = 0
    for chunk_id, batch in enumerate(source.batches(options.chunk_size)):
        _check_unique(batch, seen, source)
        data = await asyncio.to_thread(
            encode_chunk,
            chunk_id,
            (batch.ids, batch.vectors, batch.metadata),
            options.fmt,
            options.key,
        )
        path = chunk_path(manifest_path, chunk_id)
        await storage.put(path, data)
        entries.append(
            ChunkEntry(
                chunk_id=chunk_id,
                cid=path,
                vector_count=len(batch.ids),
                size_bytes=len(data),
                updated_at=_now_ms(),
            )
        )
        written += len(data)
        if on_chunk is not None:
            on_chunk(sum(e.vector_count for e in entries), source.count)
    now = _now_ms()
    manifest = Manifest(
        name=options.name,
        owner=options.owner,
        description=options.description,
        dimensions=source.dimensions,
        vector_count=sum(e.vector_count for e in entries),
        storage_size_bytes=written,
        created=now,
        last_accessed=now,
        updated=now,
        chunks=entries,
        chunk_count=len(entries),
        folder_paths=[],
    )
    manifest_bytes = encode_manifest(manifest, options.fmt, options.key)
    await storage.put(manifest_path, manifest_bytes)
    return PublishResult(
        manifest_path, manifest.vector_count, len(entries), written + len(manifest_bytes)
    )


def _check_unique(batch: Batch, seen: set[str], source: VectorSource) -> None:
    before = len(seen)
    seen.update(batch.ids)
    if len(seen) - before != len(batch.ids):
        raise SourceError(f"{source.path}: vector ids must be unique across the database")
