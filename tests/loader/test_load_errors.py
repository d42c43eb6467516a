"""Every loader error code, reached from a crafted database on a real store (SPEC 3, 5, 7)."""

from __future__ import annotations

import math
from collections.abc import Callable

import orjson
import pytest

from s5vec.errors import S5VecError
from s5vec.formats.paths import chunk_path
from s5vec.loader import LoadRequest, LoadState, LoadStatus
from tests.loader.conftest import LoaderMaker
from tests.loader.dbs import (
    KEY,
    OTHER_KEY,
    OTHER_OWNER,
    OWNER,
    chunk_file,
    database,
    db_path,
    manifest_file,
    rows,
    write,
)
from tests.loader.fakes import CountingStorage, Events, IndexFactory

PATH = db_path()
Files = dict[str, bytes]


async def failed_load(
    loader_maker: LoaderMaker, store: CountingStorage, request: LoadRequest, **changes: object
) -> tuple[S5VecError, Events, LoadStatus]:
    """Run a load that must fail; check the single terminal event matches the raised error."""
    events, status = Events(), LoadStatus()
    with pytest.raises(S5VecError) as info:
        await loader_maker(store, **changes).load(request, events, status=status)
    error = info.value
    assert events.terminal == [events.items[-1]]
    assert events.items[-1] == {
        "event": "loading_error",
        "error_code": error.code,
        "error": error.message,
        "message": f"Loading failed: {error.message}",
    }
    assert status.state is LoadState.ERROR
    assert status.error_code == error.code
    return error, events, status


def _owner_mismatch(files: Files) -> None:
    files[PATH] = manifest_file((4, 3, 5), 8, owner=OTHER_OWNER)


def _deleted(files: Files) -> None:
    files[PATH] = manifest_file((4, 3, 5), 8, deleted=True)


def _wider_chunk(files: Files) -> None:
    files[chunk_path(PATH, 1)] = chunk_file(1, rows(3, 9))


def _nan(files: Files) -> None:
    vectors = rows(3, 8)
    vectors[1, 2] = math.nan
    files[chunk_path(PATH, 1)] = chunk_file(1, vectors)


def _infinite(files: Files) -> None:
    vectors = rows(5, 8)
    vectors[4, 0] = 1e300  # finite as float64, infinite as float32
    files[chunk_path(PATH, 2)] = chunk_file(2, vectors)


def _short_chunk(files: Files) -> None:
    files[chunk_path(PATH, 1)] = chunk_file(1, rows(2, 8))


def _corrupt_chunk(files: Files) -> None:
    files[chunk_path(PATH, 2)] = b"\x00\x01 not a chunk at all"


def _duplicate_ids(files: Files) -> None:
    files[chunk_path(PATH, 2)] = chunk_file(2, rows(5, 8), ids=["c0-1", "x1", "x2", "x3", "x4"])


def _missing_chunk(files: Files) -> None:
    del files[chunk_path(PATH, 1)]


def _missing_manifest(files: Files) -> None:
    del files[PATH]


def _schema_breaking_manifest(files: Files) -> None:
    files[PATH] = b'{"name": "docs", "owner": "' + OWNER.encode() + b'", "chunks": 3}'


def _contradictory_manifest(files: Files) -> None:
    entries = [
        {"chunkId": index, "cid": chunk_path(PATH, index), "vectorCount": count}
        for index, count in enumerate((4, 3, 5))
    ]
    files[PATH] = orjson.dumps(
        {"name": "docs", "owner": OWNER, "vectorCount": 13, "chunks": entries, "chunkCount": 3}
    )


@pytest.mark.parametrize(
    ("damage", "code"),
    [
        (_missing_manifest, "MANIFEST_NOT_FOUND"),
        (_owner_mismatch, "OWNER_MISMATCH"),
        (_deleted, "DATABASE_DELETED"),
        (_schema_breaking_manifest, "MANIFEST_PARSE_ERROR"),
        (_contradictory_manifest, "MANIFEST_PARSE_ERROR"),
        (_wider_chunk, "DIMENSION_MISMATCH"),
        (_nan, "INVALID_VECTOR"),
        (_infinite, "INVALID_VECTOR"),
        (_short_chunk, "VECTOR_COUNT_MISMATCH"),
        (_corrupt_chunk, "CHUNK_PARSE_ERROR"),
        (_duplicate_ids, "CHUNK_PARSE_ERROR"),
        (_missing_chunk, "CHUNK_DOWNLOAD_FAILED"),
    ],
)
async def test_crafted_database_fails_with_its_code(
    store: CountingStorage,
    new_loader: LoaderMaker,
    factory: IndexFactory,
    damage: Callable[[Files], None],
    code: str,
) -> None:
    files = database()
    damage(files)
    await write(store, files)
    error, _events, _status = await failed_load(new_loader, store, LoadRequest(PATH, OWNER))
    assert error.code == code
    assert all(index.closed for index in factory.made)


async def test_wrong_key_is_decryption_failed(
    store: CountingStorage, new_loader: LoaderMaker
) -> None:
    await write(store, database(key=KEY))
    error, _, _ = await failed_load(new_loader, store, LoadRequest(PATH, OWNER, OTHER_KEY))
    assert error.code == "DECRYPTION_FAILED"


async def test_encrypted_chunk_under_plaintext_manifest_with_wrong_key(
    store: CountingStorage, new_loader: LoaderMaker
) -> None:
    files = database()
    files[chunk_path(PATH, 1)] = chunk_file(1, rows(3, 8), key=KEY)
    await write(store, files)
    error, _, _ = await failed_load(new_loader, store, LoadRequest(PATH, OWNER, OTHER_KEY))
    assert error.code == "DECRYPTION_FAILED"


async def test_encrypted_chunk_without_key_is_chunk_parse_error(
    store: CountingStorage, new_loader: LoaderMaker
) -> None:
    files = database()
    files[chunk_path(PATH, 1)] = chunk_file(1, rows(3, 8), key=KEY)
    await write(store, files)
    error, _, _ = await failed_load(new_loader, store, LoadRequest(PATH, OWNER))
    assert error.code == "CHUNK_PARSE_ERROR"


async def test_encrypted_database_without_key_is_invalid_session_key(
    store: CountingStorage, new_loader: LoaderMaker
) -> None:
    await write(store, database(key=KEY))
    error, _, _ = await failed_load(new_loader, store, LoadRequest(PATH, OWNER))
    assert error.code == "INVALID_SESSION_KEY"


async def test_over_memory_limit_fails_before_any_chunk_is_fetched(
    store: CountingStorage, new_loader: LoaderMaker, factory: IndexFactory
) -> None:
    files = database((4, 3, 5), dims=8)
    await write(store, files)
    # 12 vectors x (8 x 4 + 256) bytes = 3456 bytes: one byte less is over the limit.
    error, events, _ = await failed_load(
        new_loader, store, LoadRequest(PATH, OWNER), memory_limit_bytes=3455
    )
    assert error.code == "MEMORY_LIMIT_EXCEEDED"
    assert events.names == ["manifest_downloaded", "loading_error"]
    assert set(store.gets) == {PATH}
    assert factory.made == []


async def test_at_memory_limit_loads(store: CountingStorage, new_loader: LoaderMaker) -> None:
    await write(store, database((4, 3, 5), dims=8))
    handle = await new_loader(store, memory_limit_bytes=3456).load(
        LoadRequest(PATH, OWNER), Events()
    )
    assert handle.vector_count == 12


async def test_without_manifest_dimensions_preflight_runs_on_the_first_chunk(
    store: CountingStorage, new_loader: LoaderMaker, factory: IndexFactory
) -> None:
    await write(store, database((0, 3, 5, 4), dims=8, manifest_dims=False))
    error, events, _ = await failed_load(
        new_loader, store, LoadRequest(PATH, OWNER), memory_limit_bytes=3455
    )
    assert error.code == "MEMORY_LIMIT_EXCEEDED"
    # Chunk 0 is empty, so chunk 1 gives the dimension; nothing after it was fetched.
    assert set(store.gets) == {PATH, chunk_path(PATH, 0), chunk_path(PATH, 1)}
    assert [event["chunk_id"] for event in events.chunks] == [0]
    assert factory.made == []


async def test_plain_session_never_uses_an_index_built_with_a_key(
    store: CountingStorage, new_loader: LoaderMaker, factory: IndexFactory
) -> None:
    files = database()
    files[chunk_path(PATH, 1)] = chunk_file(1, rows(3, 8), key=KEY)
    await write(store, files)
    loader = new_loader(store)
    keyed = await loader.load(LoadRequest(PATH, OWNER, KEY), Events())
    assert keyed.vector_count == 12
    error, _, _ = await failed_load(new_loader, store, LoadRequest(PATH, OWNER))
    assert error.code == "CHUNK_PARSE_ERROR"
    keyed.release()
