"""What publish refuses, and what it leaves behind when the input fails half way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from s5vec.errors import InvalidAddress, InvalidPath, PermanentStorageError, S5VecError
from s5vec.storage.local import LocalStorage
from s5vec.storage.memory import FakeMemoryStorage
from s5vec.tools.publish import MAX_CHUNK_SIZE, PublishOptions, publish
from s5vec.tools.sources import SourceError, open_source
from tests.tools.inputs import KEY, OWNER, write_lines, write_npy


@pytest.fixture
def rows_file(tmp_path: Path) -> Path:
    """Five 3-dimensional rows."""
    return write_npy(tmp_path / "v.npy", np.arange(15, dtype=np.float32).reshape(5, 3))


@pytest.mark.parametrize(
    ("owner", "name", "error"),
    [
        ("0x123", "db", InvalidAddress),
        ("ab" * 21, "db", InvalidAddress),
        ("0x" + "g" * 40, "db", InvalidAddress),
        (OWNER.replace("a", "A", 1), "db", InvalidAddress),  # broken EIP-55 checksum
        (OWNER, "a/b", InvalidPath),
        (OWNER, "", InvalidPath),
        (OWNER, "..", InvalidPath),
        (OWNER, "a\\b", InvalidPath),
        (OWNER, "zero\u200bwidth", InvalidPath),
        (OWNER, "full\uff0fwidth", InvalidPath),
    ],
)
async def test_bad_owner_or_name_is_refused_before_any_write(
    rows_file: Path, owner: str, name: str, error: type[S5VecError]
) -> None:
    storage = FakeMemoryStorage()
    with pytest.raises(error):
        await publish(open_source(rows_file), storage, PublishOptions(owner, name))
    assert [op for op, _ in storage.calls if op == "put"] == []


@pytest.mark.parametrize("key", [b"", bytes(16), bytes(31), bytes(33)])
async def test_a_key_that_is_not_32_bytes_is_refused(rows_file: Path, key: bytes) -> None:
    storage = FakeMemoryStorage()
    with pytest.raises(SourceError, match="encryption key must be 32 bytes"):
        await publish(open_source(rows_file), storage, PublishOptions(OWNER, "db", key=key))
    assert storage.calls == []


@pytest.mark.parametrize("size", [0, -1, MAX_CHUNK_SIZE + 1])
async def test_chunk_size_out_of_range_is_refused(rows_file: Path, size: int) -> None:
    with pytest.raises(SourceError, match="chunk size must be"):
        await publish(
            open_source(rows_file),
            FakeMemoryStorage(),
            PublishOptions(OWNER, "db", chunk_size=size),
        )


async def test_reserved_names_are_refused_by_the_store(rows_file: Path, tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    with pytest.raises(PermanentStorageError, match="reserved"):
        await publish(open_source(rows_file), storage, PublishOptions(OWNER, ".s5vec-blobs"))


async def test_nan_half_way_leaves_no_manifest(tmp_path: Path) -> None:
    rows = np.ones((5, 2), dtype=np.float32)
    rows[3, 1] = np.nan
    storage = FakeMemoryStorage()
    options = PublishOptions(OWNER, "db", chunk_size=2)
    with pytest.raises(SourceError, match="row 3 holds NaN"):
        await publish(open_source(write_npy(tmp_path / "v.npy", rows)), storage, options)
    # Chunk 0 went out before the bad row was read; the manifest, written last, did not.
    assert not await storage.exists(options.manifest_path)
    assert await storage.list(options.manifest_path.rsplit("/", 1)[0]) == ["chunk-0.json"]


async def test_duplicate_ids_across_chunks_leave_no_manifest(tmp_path: Path) -> None:
    records = [{"id": i % 3, "vector": [float(i)]} for i in range(4)]
    storage = FakeMemoryStorage()
    options = PublishOptions(OWNER, "db", chunk_size=3)
    path = write_lines(tmp_path / "v.jsonl", records)
    with pytest.raises(SourceError, match="vector ids must be unique"):
        await publish(open_source(path), storage, options)
    assert not await storage.exists(options.manifest_path)


async def test_duplicate_ids_within_a_chunk_are_refused(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "v.jsonl", [{"id": "7", "vector": [1]}, {"id": 7, "vector": [2]}])
    with pytest.raises(SourceError, match="vector ids must be unique"):
        await publish(open_source(path), FakeMemoryStorage(), PublishOptions(OWNER, "db"))


async def test_progress_counts_vectors_and_the_manifest_is_written_last(rows_file: Path) -> None:
    storage = FakeMemoryStorage()
    seen: list[tuple[int, int]] = []
    options = PublishOptions(OWNER, "db", "json", KEY, chunk_size=2)
    result = await publish(
        open_source(rows_file), storage, options, lambda done, total: seen.append((done, total))
    )
    assert seen == [(2, 5), (4, 5), (5, 5)]
    puts = [path for op, path in storage.calls if op == "put"]
    assert [path.rsplit("/", 1)[1] for path in puts] == [
        "chunk-0.json",
        "chunk-1.json",
        "chunk-2.json",
        "manifest.json",
    ]
    assert result.bytes_written == sum([len(await storage.get(path)) for path in puts])
