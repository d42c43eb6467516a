"""One contract, every backend: local directory, bridge (against the real dev store), fake."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s5vec.errors import NotFound, PermanentStorageError
from s5vec.storage.base import Storage
from s5vec.storage.bridge import BridgeStorage
from s5vec.storage.local import LocalStorage
from s5vec.storage.memory import FakeMemoryStorage
from tests.storage.strategies import relative_paths

TRAVERSALS = [
    "../x",
    "a/../../x",
    "..",
    "/etc/passwd",
    "/x",
    "a/./b",
    "a//b",
    "a/",
    "",
    "a\\..\\x",
    "a\x00b",
    "a/b\x00",
    "a\nb",
]


@pytest.fixture(params=["local", "bridge", "memory"])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, dev_store: str
) -> AsyncIterator[Storage]:
    """Each backend in turn, empty."""
    storage: Storage
    if request.param == "local":
        storage = LocalStorage(tmp_path / "local")
    elif request.param == "bridge":
        storage = BridgeStorage(dev_store, timeout_s=10, retries=0)
    else:
        storage = FakeMemoryStorage()
    try:
        yield storage
    finally:
        await storage.close()


async def test_put_then_get_returns_the_same_bytes(backend: Storage) -> None:
    await backend.put("home/db/manifest.json", b'{"a": 1}')
    assert await backend.get("home/db/manifest.json") == b'{"a": 1}'


async def test_put_overwrites(backend: Storage) -> None:
    await backend.put("home/db/chunk-0.json", b"old")
    await backend.put("home/db/chunk-0.json", b"new and longer")
    assert await backend.get("home/db/chunk-0.json") == b"new and longer"


async def test_empty_file_round_trips(backend: Storage) -> None:
    await backend.put("empty", b"")
    assert await backend.get("empty") == b""
    assert await backend.exists("empty")


async def test_get_missing_file_raises_not_found(backend: Storage) -> None:
    with pytest.raises(NotFound):
        await backend.get("home/nothing/here.json")


async def test_get_of_a_directory_raises_not_found(backend: Storage) -> None:
    await backend.put("home/db/chunk-0.json", b"x")
    with pytest.raises(NotFound):
        await backend.get("home/db")


async def test_delete_removes_the_file(backend: Storage) -> None:
    await backend.put("home/db/chunk-1.json", b"x")
    await backend.delete("home/db/chunk-1.json")
    assert not await backend.exists("home/db/chunk-1.json")
    with pytest.raises(NotFound):
        await backend.get("home/db/chunk-1.json")


async def test_delete_missing_file_raises_not_found(backend: Storage) -> None:
    with pytest.raises(NotFound):
        await backend.delete("home/db/nope.json")


async def test_exists_is_true_only_for_files(backend: Storage) -> None:
    await backend.put("home/db/manifest.json", b"x")
    assert await backend.exists("home/db/manifest.json")
    assert not await backend.exists("home/db/other.json")
    assert not await backend.exists("home/db")


async def test_list_returns_sorted_names_with_directories_slashed(backend: Storage) -> None:
    for path in ("d/chunk-10.json", "d/chunk-2.json", "d/manifest.json", "d/sub/x", "d/a/y"):
        await backend.put(path, b"x")
    assert await backend.list("d") == [
        "a/",
        "chunk-10.json",
        "chunk-2.json",
        "manifest.json",
        "sub/",
    ]
    assert await backend.list("d/") == await backend.list("d")
    assert await backend.list("d/sub") == ["x"]


async def test_list_of_the_root(backend: Storage) -> None:
    await backend.put("home/x", b"1")
    await backend.put("top.json", b"2")
    assert await backend.list("") == ["home/", "top.json"]


async def test_list_missing_directory_raises_not_found(backend: Storage) -> None:
    await backend.put("home/x", b"1")
    with pytest.raises(NotFound):
        await backend.list("home/missing")
    with pytest.raises(NotFound):
        await backend.list("home/x")


async def test_put_below_a_file_is_refused(backend: Storage) -> None:
    await backend.put("a/file", b"1")
    with pytest.raises(PermanentStorageError):
        await backend.put("a/file/child", b"2")
    assert await backend.get("a/file") == b"1"


async def test_put_onto_a_directory_is_refused(backend: Storage) -> None:
    await backend.put("a/dir/child", b"1")
    with pytest.raises(PermanentStorageError):
        await backend.put("a/dir", b"2")
    assert await backend.get("a/dir/child") == b"1"


@pytest.mark.parametrize("path", TRAVERSALS, ids=repr)
async def test_escaping_or_malformed_paths_are_refused(backend: Storage, path: str) -> None:
    with pytest.raises(PermanentStorageError):
        await backend.get(path)
    with pytest.raises(PermanentStorageError):
        await backend.put(path, b"evil")
    with pytest.raises(PermanentStorageError):
        await backend.exists(path)
    with pytest.raises(PermanentStorageError):
        await backend.delete(path)


@pytest.mark.parametrize("path", ["../x", "a/../..", "/abs", "a//b", "a\x00"], ids=repr)
async def test_listing_escaping_paths_is_refused(backend: Storage, path: str) -> None:
    with pytest.raises(PermanentStorageError):
        await backend.list(path)


async def test_percent_encoded_dots_are_literal_names(backend: Storage) -> None:
    # Over the bridge this segment travels as %252e%252e: it must never decode to "..".
    await backend.put("%2e%2e/%2E%2E/x", b"inside")
    assert await backend.get("%2e%2e/%2E%2E/x") == b"inside"
    assert await backend.list("") == ["%2e%2e/"]
    assert await backend.list("%2e%2e") == ["%2E%2E/"]


async def test_concurrent_operations_on_one_backend(backend: Storage) -> None:
    paths = [f"many/chunk-{i}.json" for i in range(20)]
    await asyncio.gather(*(backend.put(p, p.encode()) for p in paths))
    assert await asyncio.gather(*(backend.get(p) for p in paths)) == [p.encode() for p in paths]


async def test_concurrent_writes_to_one_path_leave_one_whole_value(backend: Storage) -> None:
    values = [bytes([i]) * 10_000 for i in range(10)]
    await asyncio.gather(*(backend.put("same", value) for value in values))
    assert await backend.get("same") in values


async def test_health_reports_healthy(backend: Storage) -> None:
    health = await backend.health()
    assert health["healthy"] is True
    assert health["backend"] == backend.name


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(path=relative_paths, data=st.binary(max_size=4096))
async def test_any_valid_path_and_bytes_round_trip(
    backend: Storage, path: str, data: bytes
) -> None:
    # A fresh top directory per example: earlier examples may have made files or dirs.
    full = f"{uuid.uuid4().hex}/{path}"
    await backend.put(full, data)
    assert await backend.get(full) == data
    assert await backend.exists(full)
    assert await backend.list(full.rsplit("/", 1)[0]) == [full.rsplit("/", 1)[1]]


async def test_multi_megabyte_files_round_trip(backend: Storage) -> None:
    data = bytes(range(256)) * (3 * 4096)  # 3 MiB: above aiohttp's raw-bytes body threshold
    await backend.put("big/chunk-0.json", data)
    assert await backend.get("big/chunk-0.json") == data
