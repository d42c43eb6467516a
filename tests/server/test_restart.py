"""A restarted host serves a database it loaded before from its persisted index (SPEC 9)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from s5vec.client import ClientError, S5VecClient
from s5vec.formats.paths import chunk_path
from s5vec.storage.local import LocalStorage
from tests.loader.fakes import CountingStorage
from tests.server.conftest import HostFactory
from tests.server.helpers import OWNER_KEY, SESSION_KEY, Database, publish
from tests.server.process import serve_process

OTHER_SESSION_KEY = bytes(range(200, 232))
CHUNKS = 3


def chunk_gets(storage: CountingStorage) -> int:
    return sum(count for path, count in storage.gets.items() if "/chunk-" in path)


async def delete_chunks(storage: LocalStorage | CountingStorage, db: Database) -> None:
    """Remove the database's chunk files: a load that fetches one now fails."""
    for chunk_id in range(CHUNKS):
        await storage.delete(chunk_path(db.manifest_path, chunk_id))


async def load_and_search(
    url: str, db: Database, session_key: bytes | None = None
) -> tuple[list[str], list[int], str]:
    """One client session on ``db``: progress event names, chunk percents, top hit of row 4."""
    async with S5VecClient.connect(url) as client:
        if session_key is None:
            await client.init_session("s", vector_database=db.spec)
        else:
            await client.init_encrypted_session(
                "s", OWNER_KEY, session_key, vector_database=db.spec
            )
        events = [event async for event in client.progress()]
        found = await client.search(db.vectors[4].tolist(), k=1)
    percents = [e.percent or 0 for e in events if e.event == "chunk_downloaded"]
    return [e.event for e in events], percents, found.results[0].id


FULL_PROGRESS = ["manifest_downloaded", *["chunk_downloaded"] * CHUNKS, "index_building"]


@pytest.mark.parametrize("session_key", [None, SESSION_KEY], ids=["plaintext", "encrypted"])
async def test_a_restarted_host_serves_the_database_without_its_chunks(
    start_host: HostFactory, tmp_path: Path, session_key: bytes | None
) -> None:
    storage = CountingStorage(LocalStorage(tmp_path / "s5"))
    db = await publish(storage, "docs", key=session_key)
    first = await start_host(storage=storage)
    assert first.services.persisted is not None
    cold = await load_and_search(first.ws_url, db, session_key)
    await first.services.persisted.drain()
    await first.stop()
    await delete_chunks(storage, db)
    fetched = chunk_gets(storage)

    second = await start_host(storage=storage)
    restored = await load_and_search(second.ws_url, db, session_key)
    assert chunk_gets(storage) == fetched
    assert restored == cold
    assert restored == ([*FULL_PROGRESS, "loading_complete"], [33, 66, 100], "docs-4")


async def test_a_session_with_another_key_gets_an_error_not_the_persisted_vectors(
    start_host: HostFactory, tmp_path: Path
) -> None:
    storage = CountingStorage(LocalStorage(tmp_path / "s5"))
    db = await publish(storage, "secret", key=SESSION_KEY)
    first = await start_host(storage=storage)
    await load_and_search(first.ws_url, db, SESSION_KEY)
    assert first.services.persisted is not None
    await first.services.persisted.drain()
    await first.stop()

    second = await start_host(storage=storage)
    async with S5VecClient.connect(second.ws_url) as client:
        await client.init_encrypted_session(
            "intruder", OWNER_KEY, OTHER_SESSION_KEY, vector_database=db.spec
        )
        with pytest.raises(ClientError) as refused:
            await client.wait_loaded(timeout=60)
        assert refused.value.code == "DECRYPTION_FAILED"
        with pytest.raises(ClientError):
            await client.search(db.vectors[4].tolist(), k=1)


async def test_persistence_can_be_turned_off(start_host: HostFactory, tmp_path: Path) -> None:
    host = await start_host(S5VEC_PERSIST_INDEXES="false")
    assert host.services.persisted is None
    db = await publish(host.services.storage, "docs")
    _, _, top = await load_and_search(host.ws_url, db)
    assert top == "docs-4"
    assert not list((tmp_path / "data").rglob("*.s5vi"))


async def until_saved(directory: Path) -> None:
    """Wait until a persisted index appears (the test's timeout bounds the wait)."""
    while not list(directory.glob("*.s5vi")):  # noqa: ASYNC110, ASYNC240 - another process
        await asyncio.sleep(0.05)


async def test_a_restarted_server_process_serves_from_its_data_directory(
    tmp_path: Path, free_port: int
) -> None:
    store = LocalStorage(tmp_path / "s5")
    db = await publish(store, "docs", key=SESSION_KEY)
    env = {
        "S5VEC_DATA_DIR": str(tmp_path / "data"),
        "S5_LOCAL_DIR": str(tmp_path / "s5"),
        "HOST_PRIVATE_KEY": "22" * 32,
    }
    async with serve_process(free_port, tmp_path / "first.log", **env) as server:
        cold = await load_and_search(server.ws_url, db, SESSION_KEY)
        await until_saved(tmp_path / "data" / "indexes")
        assert await server.stop() == 0
    await delete_chunks(store, db)

    async with serve_process(free_port, tmp_path / "second.log", **env) as server:
        restored = await load_and_search(server.ws_url, db, SESSION_KEY)
        assert await server.stop() == 0
    assert restored == cold
    assert restored[2] == "docs-4"
