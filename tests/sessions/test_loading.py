"""Background loads through a session: progress, failures, VECTORS_LOADING, close()."""

from __future__ import annotations

import asyncio
from typing import Any

from s5vec.cache import IndexCache
from s5vec.crypto.secp256k1 import HostKey
from s5vec.formats.paths import chunk_path
from s5vec.loader import ProgressEvent
from s5vec.sessions import SessionHub
from s5vec.storage.local import LocalStorage
from tests.loader.fakes import until
from tests.sessions.conftest import HubMaker, IndexFactory
from tests.sessions.dbs import KEY, OTHER_KEY, Database, User, database, write
from tests.sessions.fakes import RecordingObserver, gated_memory_storage
from tests.sessions.helpers import (
    connect,
    encrypted_init,
    ended,
    plain_init,
    records,
    sealed_payload,
    search,
    upload,
)


async def test_plain_init_naming_an_encrypted_database_ends_with_invalid_session_key(
    hub: SessionHub, storage: LocalStorage, user: User
) -> None:
    db = database(user.address)
    await write(storage, db.files(key=KEY))
    conn, sent = connect(hub)
    await conn.handle(plain_init("s1", db))
    assert sent.frames[0]["type"] == "session_init_ack"
    error = await ended(sent, "s1")
    assert error["event"] == "loading_error"
    assert error["error_code"] == "INVALID_SESSION_KEY"
    assert "encrypted_session_init" in error["error"]
    assert conn.status["state"] == "error"
    assert conn.status["code"] == "INVALID_SESSION_KEY"
    # A search then gets the load's own code at once, not a search of the uploads.
    await conn.handle(upload(records(2, db.dims or 0)))
    await conn.handle(search([1.0] * (db.dims or 0), id="q"))
    assert sent.last["type"] == "error"
    assert sent.last["code"] == "INVALID_SESSION_KEY"
    assert sent.last["requestId"] == "q1"
    assert sent.last["id"] == "q"


async def test_encrypted_init_with_the_wrong_key_ends_with_decryption_failed(
    hub: SessionHub, storage: LocalStorage, host_key: HostKey, user: User
) -> None:
    db = database(user.address)
    await write(storage, db.files(key=KEY))
    conn, sent = connect(hub)
    await conn.handle(encrypted_init("e1", sealed_payload(host_key, user, key=OTHER_KEY, db=db)))
    error = await ended(sent, "e1")
    assert error["error_code"] == "DECRYPTION_FAILED"


async def test_missing_manifest_ends_with_manifest_not_found(hub: SessionHub, user: User) -> None:
    conn, sent = connect(hub)
    await conn.handle(plain_init("s1", database(user.address)))
    assert (await ended(sent, "s1"))["error_code"] == "MANIFEST_NOT_FOUND"
    await conn.handle(search([1.0, 2.0]))
    assert sent.last["code"] == "MANIFEST_NOT_FOUND"


async def test_manifest_owned_by_someone_else_ends_with_owner_mismatch(
    hub: SessionHub, storage: LocalStorage, user: User
) -> None:
    stranger = database(User.new().address)
    db = Database(user.address, "docs", stranger.chunks)
    files = Database(stranger.owner, "docs", stranger.chunks).files()
    # The stranger's manifest, stored under this user's path.
    await write(storage, {db.path: files[stranger.path]})
    conn, sent = connect(hub)
    await conn.handle(plain_init("s1", db))
    assert (await ended(sent, "s1"))["error_code"] == "OWNER_MISMATCH"


async def test_every_load_ends_with_exactly_one_terminal_event(
    hub: SessionHub, storage: LocalStorage, user: User
) -> None:
    good, missing = database(user.address), database(user.address, name="gone")
    await write(storage, good.files())
    conn, sent = connect(hub)
    await conn.handle(plain_init("a", good))
    await ended(sent, "a")
    await conn.handle(plain_init("b", missing))
    await ended(sent, "b")
    await conn.handle(plain_init("c", good))  # a cache hit
    await ended(sent, "c")
    assert [len(sent.terminal(s)) for s in "abc"] == [1, 1, 1]
    assert [sent.terminal(s)[0]["event"] for s in "abc"] == [
        "loading_complete",
        "loading_error",
        "loading_complete",
    ]


async def test_empty_database_loads_and_searches_to_no_results(
    hub: SessionHub, storage: LocalStorage, user: User
) -> None:
    db = Database(user.address, "empty", [])
    await write(storage, db.files())
    conn, sent = connect(hub)
    await conn.handle(plain_init("s1", db))
    assert (await ended(sent, "s1"))["vector_count"] == 0
    await conn.handle(search([0.5, 0.5, 0.1]))
    assert sent.last["results"] == []
    assert sent.last["totalVectors"] == 0


async def test_search_while_loading_returns_vectors_loading_at_once(
    make_hub: HubMaker, user: User
) -> None:
    db = database(user.address)
    storage = gated_memory_storage(db.files())
    held = chunk_path(db.path, 1)
    gate = storage.hold(held)
    conn, sent = connect(make_hub(storage=storage))
    await conn.handle(plain_init("s1", db))
    query = [1.0] * (db.dims or 0)
    await conn.handle(search(query, id="early"))  # before the load task even ran
    assert sent.last["code"] == "VECTORS_LOADING"
    await until(lambda: held in storage.waiting)
    await conn.handle(upload(records(3, db.dims or 0)))  # uploads work during the load
    assert sent.last["status"] == "success"
    await conn.handle(search(query, id="q"))
    assert sent.last == {
        "type": "error",
        "code": "VECTORS_LOADING",
        "message": sent.last["message"],
        "requestId": "q1",
        "id": "q",
    }
    assert held in storage.waiting  # answered while the load was still held
    assert conn.status == {"state": "loading"}
    gate.set()
    await ended(sent, "s1")
    await conn.handle(search(query, k=100))
    assert sent.last["type"] == "searchVectorsResponse"
    assert sent.last["totalVectors"] == db.vector_count + 3
    assert len(sent.last["results"]) == db.vector_count + 3


async def test_search_right_after_loading_complete_is_answered(
    hub: SessionHub, storage: LocalStorage, user: User
) -> None:
    db = database(user.address)
    await write(storage, db.files())
    sent: list[dict[str, Any]] = []
    conn = None

    async def send(frame: dict[str, Any]) -> None:
        # Search from inside the delivery of loading_complete: the earliest a client can.
        sent.append(frame)
        if frame.get("payload", {}).get("event") == "loading_complete":
            assert conn is not None
            asyncio.get_running_loop().create_task(conn.handle(search([1.0] * (db.dims or 0))))

    conn = hub.connect(send)
    await conn.handle(plain_init("s1", db))
    await until(lambda: sent[-1]["type"] == "searchVectorsResponse")
    assert sent[-1]["totalVectors"] == db.vector_count


async def test_search_during_the_ack_is_vectors_not_loaded(
    hub: SessionHub, storage: LocalStorage, user: User
) -> None:
    db = database(user.address)
    await write(storage, db.files())
    sent: list[dict[str, Any]] = []
    release_ack = asyncio.Event()

    async def send(frame: dict[str, Any]) -> None:
        sent.append(frame)
        if frame["type"] == "session_init_ack":
            await release_ack.wait()

    conn = hub.connect(send)
    init = asyncio.create_task(conn.handle(plain_init("s1", db)))
    await until(lambda: bool(sent))
    await conn.handle(search([1.0] * (db.dims or 0)))
    assert sent[-1]["code"] == "VECTORS_NOT_LOADED"
    release_ack.set()
    await init


async def test_close_during_load_cancels_it_and_sends_nothing(
    make_hub: HubMaker, user: User, observer: RecordingObserver
) -> None:
    db = database(user.address)
    storage = gated_memory_storage(db.files())
    held = chunk_path(db.path, 0)
    storage.hold(held)
    hub = make_hub(storage=storage)
    conn, sent = connect(hub)
    await conn.handle(plain_init("s1", db))
    await until(lambda: held in storage.waiting)
    assert hub.active_sessions == 1
    await conn.close()
    assert storage.cancelled == [held]
    assert sent.terminal("s1") == []  # no CANCELLED to a closed socket
    count = len(sent.frames)
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(sent.frames) == count  # and nothing at all once closed
    assert hub.active_sessions == 0
    assert observer.active == 0
    assert conn.status["code"] == "CANCELLED"


async def test_close_releases_the_lease_on_the_cached_index(
    make_hub: HubMaker,
    storage: LocalStorage,
    user: User,
    cache: IndexCache[Any, ProgressEvent],
    indexes: IndexFactory,
) -> None:
    db = database(user.address)
    await write(storage, db.files())
    hub = make_hub()
    first, first_sent = connect(hub)
    second, second_sent = connect(hub)
    await first.handle(plain_init("a", db))
    await ended(first_sent, "a")
    await second.handle(plain_init("b", db))  # shares the cached index: two leases
    await ended(second_sent, "b")
    assert len(indexes.made) == 1
    index = indexes.made[0]
    cache.clear()  # uncached, but leased twice: still open
    await first.close()
    assert len(index) == db.vector_count  # the second session still holds it
    await second.handle(search([1.0] * (db.dims or 0)))
    assert second_sent.last["totalVectors"] == db.vector_count
    await second.close()  # the last lease: the index is closed and its memory freed
    assert len(index) == 0
    assert index.memory_bytes() == 0


async def test_hub_close_cancels_every_load(make_hub: HubMaker, user: User) -> None:
    dbs = [database(user.address, name=f"db{i}") for i in range(3)]
    storage = gated_memory_storage({p: b for db in dbs for p, b in db.files().items()})
    for db in dbs:
        storage.hold(chunk_path(db.path, 0))
    hub = make_hub(storage=storage)
    for i, db in enumerate(dbs):
        conn, _ = connect(hub)
        await conn.handle(plain_init(f"s{i}", db))
    await until(lambda: len(storage.waiting) == 3)
    assert hub.active_sessions == 3
    await hub.close()
    assert sorted(storage.cancelled) == sorted(chunk_path(db.path, 0) for db in dbs)
    assert hub.active_sessions == 0
    assert hub.connections == 0


async def test_progress_goes_only_to_the_session_s_own_connection(
    hub: SessionHub, storage: LocalStorage, user: User
) -> None:
    one, two = database(user.address, name="one"), database(user.address, name="two", seed=5)
    await write(storage, {**one.files(), **two.files()})
    conns = [connect(hub) for _ in range(4)]
    for n, (conn, _) in enumerate(conns):
        await conn.handle(plain_init(f"s{n}", one if n % 2 else two))
    for n, (_, sent) in enumerate(conns):
        await ended(sent, f"s{n}")
        assert {f["session_id"] for f in sent.of("vector_loading_progress")} == {f"s{n}"}
        assert len(sent.terminal()) == 1
        assert sent.terminal()[0]["event"] == "loading_complete"
    assert hub.active_sessions == 4
