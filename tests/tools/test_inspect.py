"""inspect_database reads a whole database back and names the first fault as SPEC section 7 does."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

from s5vec.errors import (
    ChunkDownloadFailed,
    ChunkParseError,
    DecryptionFailed,
    InvalidPath,
    InvalidSessionKey,
    ManifestDownloadFailed,
    ManifestNotFound,
    PermanentStorageError,
    RetryableStorageError,
    S5VecError,
    StorageError,
    VectorCountMismatch,
)
from s5vec.formats import ChunkEntry, Format, Manifest, encode_chunk, encode_manifest
from s5vec.formats.paths import chunk_path
from s5vec.storage.memory import FakeMemoryStorage
from s5vec.tools.inspect_db import inspect_database
from s5vec.tools.publish import PublishOptions, publish
from s5vec.tools.sources import open_source
from tests.tools.inputs import KEY, OTHER_KEY, OWNER, write_npy

MANIFEST = f"home/vector-databases/{OWNER}/db/manifest.json"


async def published(
    tmp_path: Path, key: bytes | None = None, fmt: Format = "cbor"
) -> FakeMemoryStorage:
    """Seven 4-dimensional vectors in chunks of three (3 + 3 + 1), at ``MANIFEST``."""
    storage = FakeMemoryStorage()
    rows = write_npy(tmp_path / "v.npy", np.arange(28, dtype=np.float32).reshape(7, 4))
    options = PublishOptions(OWNER, "db", fmt, key, chunk_size=3)
    await publish(open_source(rows), storage, options)
    return storage


def chunk(chunk_id: int) -> str:
    """The path of chunk ``chunk_id`` of the database at ``MANIFEST``."""
    return chunk_path(MANIFEST, chunk_id)


@pytest.mark.parametrize("fmt", ["cbor", "json"])
@pytest.mark.parametrize("key", [None, KEY])
async def test_a_published_database_validates(
    tmp_path: Path, key: bytes | None, fmt: Format
) -> None:
    storage = await published(tmp_path, key, fmt)
    progress: list[tuple[int, int]] = []
    report = await inspect_database(storage, MANIFEST, key, lambda *p: progress.append(p))
    assert (report.vector_count, report.dimensions) == (7, 4)
    assert report.encrypted_chunks == (3 if key else 0)
    assert progress == [(1, 3), (2, 3), (3, 3)]


async def test_a_plaintext_database_validates_with_a_key_too(tmp_path: Path) -> None:
    storage = await published(tmp_path)
    report = await inspect_database(storage, MANIFEST, KEY)
    assert (report.decoded.encrypted, report.encrypted_chunks) == (False, 0)


async def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestNotFound):
        await inspect_database(FakeMemoryStorage(), MANIFEST, None)


@pytest.mark.parametrize("path", ["home/vector-databases/0x12/db/manifest.json", "a/b", "../x"])
async def test_invalid_manifest_path(path: str) -> None:
    with pytest.raises(InvalidPath):
        await inspect_database(FakeMemoryStorage(), path, None)


async def test_wrong_key_is_decryption_failed(tmp_path: Path) -> None:
    storage = await published(tmp_path, KEY)
    with pytest.raises(DecryptionFailed):
        await inspect_database(storage, MANIFEST, OTHER_KEY)


async def test_encrypted_database_without_a_key_is_invalid_session_key(tmp_path: Path) -> None:
    storage = await published(tmp_path, KEY)
    with pytest.raises(InvalidSessionKey):
        await inspect_database(storage, MANIFEST, None)


async def test_deleted_chunk_is_chunk_download_failed(tmp_path: Path) -> None:
    storage = await published(tmp_path)
    await storage.delete(chunk(1))
    with pytest.raises(ChunkDownloadFailed, match=r"chunk-1\.json is missing"):
        await inspect_database(storage, MANIFEST, None)


@pytest.mark.parametrize(
    ("error", "manifest_fault", "expected"),
    [
        (RetryableStorageError("busy"), True, ManifestDownloadFailed),
        (PermanentStorageError("refused"), True, ManifestDownloadFailed),
        (RetryableStorageError("busy"), False, ChunkDownloadFailed),
        (PermanentStorageError("refused"), False, ChunkDownloadFailed),
    ],
)
async def test_storage_failures_are_download_failures(
    tmp_path: Path, error: StorageError, manifest_fault: bool, expected: type[S5VecError]
) -> None:
    storage = await published(tmp_path)
    storage.script_errors(MANIFEST if manifest_fault else chunk(2), [error])
    with pytest.raises(expected):
        await inspect_database(storage, MANIFEST, None)


async def test_tampered_encrypted_chunk_is_decryption_failed(tmp_path: Path) -> None:
    storage = await published(tmp_path, KEY)
    data = bytearray(await storage.get(chunk(1)))
    data[20] ^= 1
    await storage.put(chunk(1), bytes(data))
    with pytest.raises(DecryptionFailed):
        await inspect_database(storage, MANIFEST, KEY)


@pytest.mark.parametrize("fmt", ["cbor", "json"])
async def test_truncated_plaintext_chunk_is_chunk_parse_error(tmp_path: Path, fmt: Format) -> None:
    storage = await published(tmp_path, None, fmt)
    await storage.put(chunk(2), (await storage.get(chunk(2)))[:-3])
    with pytest.raises(ChunkParseError, match="Chunk 2"):
        await inspect_database(storage, MANIFEST, None)


@pytest.mark.parametrize("key", [None, KEY])
async def test_a_chunk_swapped_for_another_is_chunk_parse_error(
    tmp_path: Path, key: bytes | None
) -> None:
    storage = await published(tmp_path, key)
    await storage.put(chunk(1), await storage.get(chunk(0)))
    with pytest.raises(ChunkParseError, match="the file says it is chunk 0"):
        await inspect_database(storage, MANIFEST, key)


async def test_an_encrypted_chunk_in_a_plaintext_database_without_key(tmp_path: Path) -> None:
    storage = await published(tmp_path)
    encrypted = await published(tmp_path, KEY)
    await storage.put(chunk(0), await encrypted.get(chunk(0)))
    with pytest.raises(ChunkParseError, match="neither CBOR nor JSON"):
        await inspect_database(storage, MANIFEST, None)


async def test_a_chunk_with_fewer_vectors_than_its_entry(tmp_path: Path) -> None:
    storage = await published(tmp_path, fmt="json")
    body = msgspec.json.decode(await storage.get(chunk(0)))
    body["vectors"].pop()
    await storage.put(chunk(0), msgspec.json.encode(body))
    with pytest.raises(VectorCountMismatch):
        await inspect_database(storage, MANIFEST, None)


async def test_an_id_repeated_in_another_chunk_is_chunk_parse_error() -> None:
    vectors = np.ones((1, 2))
    files = {chunk(i): encode_chunk(i, (["same"], vectors, [{}]), "cbor", None) for i in range(2)}
    entries = [ChunkEntry(chunk_id=i, cid=chunk(i), vector_count=1) for i in range(2)]
    manifest = Manifest(
        name="db", owner=OWNER, vector_count=2, chunks=entries, chunk_count=2, dimensions=None
    )
    files[MANIFEST] = encode_manifest(manifest, "json")
    with pytest.raises(ChunkParseError, match="Chunk 1 repeats a vector id"):
        await inspect_database(FakeMemoryStorage(files), MANIFEST, None)


async def test_dimensions_are_inferred_when_the_manifest_has_none() -> None:
    files = {chunk(0): encode_chunk(0, (["a", "b"], np.ones((2, 5)), [{}, {}]), "json", None)}
    entries = [ChunkEntry(chunk_id=0, cid=chunk(0), vector_count=2)]
    manifest = Manifest(name="db", owner=OWNER, vector_count=2, chunks=entries, chunk_count=1)
    files[MANIFEST] = encode_manifest(manifest)
    report = await inspect_database(FakeMemoryStorage(files), MANIFEST, None)
    assert (report.dimensions, report.vector_count) == (5, 2)
