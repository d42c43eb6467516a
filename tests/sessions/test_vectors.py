"""uploadVectors and searchVectors (SPEC section 4) through a connection."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from s5vec.formats.paths import chunk_path
from s5vec.sessions import SessionHub
from s5vec.storage.local import LocalStorage
from tests.loader.fakes import until
from tests.sessions.conftest import HubMaker
from tests.sessions.dbs import User, database, write
from tests.sessions.fakes import RecordingObserver, gated_memory_storage
from tests.sessions.helpers import connect, ended, plain_init, records, search, upload


async def test_upload_success_reply_shape(hub: SessionHub) -> None:
    conn, sent = connect(hub)
    await conn.handle(upload(records(3, 4), request_id="r7", id="m"))
    assert sent.frames == [
        {
            "type": "uploadVectorsResponse",
            "requestId": "r7",
            "status": "success",
            "uploaded": 3,
            "rejected": 0,
            "errors": [],
            "id": "m",
        }
    ]


async def test_upload_rejects_bad_vectors_one_by_one(hub: SessionHub) -> None:
    conn, sent = connect(hub)
    good = records(2, 4)
    bad = [
        {"id": "nan", "vector": [math.nan, 1.0, 0.0, 0.0]},
        {"id": "short", "vector": [1.0, 2.0]},
        {"vector": [1.0, 0.0, 0.0, 0.0]},
        {"id": "fat", "vector": [1.0, 0.0, 0.0, 0.0], "metadata": {"text": "x" * 11_000}},
    ]
    await conn.handle(upload([good[0], *bad, good[1]]))
    reply = sent.last
    assert (reply["status"], reply["uploaded"], reply["rejected"]) == ("partial", 2, 4)
    assert [(e["index"], e["id"], e["code"]) for e in reply["errors"]] == [
        (1, "nan", "INVALID_VECTOR"),
        (2, "short", "DIMENSION_MISMATCH"),
        (3, None, "INVALID_VECTOR"),
        (4, "fat", "INVALID_VECTOR"),
    ]
    assert all(e["message"] for e in reply["errors"])
    await conn.handle(upload(bad[:2]))
    assert sent.last["status"] == "error"


async def test_duplicate_id_replaces_and_replace_true_clears_first(hub: SessionHub) -> None:
    conn, sent = connect(hub)
    await conn.handle(upload([{"id": "a", "vector": [1.0, 0.0], "metadata": {"v": 1}}]))
    await conn.handle(upload([{"id": "a", "vector": [0.0, 1.0], "metadata": {"v": 2}}]))
    await conn.handle(search([0.0, 1.0], k=10))
    assert sent.last["totalVectors"] == 1
    assert sent.last["results"][0]["metadata"] == {"v": 2}
    assert sent.last["results"][0]["score"] == pytest.approx(1.0)
    await conn.handle(upload([{"id": "b", "vector": [1.0, 1.0, 1.0]}], replace=True))
    assert sent.last["status"] == "success"
    await conn.handle(search([1.0, 1.0, 1.0], k=10))
    assert [r["id"] for r in sent.last["results"]] == ["b"]


async def test_more_than_1000_vectors_in_one_upload_is_invalid_message(hub: SessionHub) -> None:
    conn, sent = connect(hub)
    await conn.handle(upload(records(1001, 2), id="big"))
    assert sent.last == {
        "type": "error",
        "code": "INVALID_MESSAGE",
        "message": "uploadVectors: at most 1000 vectors per message, got 1001",
        "requestId": "u1",
        "id": "big",
    }
    await conn.handle(upload(records(1000, 2)))
    assert sent.last["uploaded"] == 1000


async def test_uploads_over_the_session_limit_are_memory_limit_exceeded(
    make_hub: HubMaker,
) -> None:
    conn, sent = connect(make_hub(max_uploaded_vectors=5))
    await conn.handle(upload(records(4, 3)))
    await conn.handle(upload(records(2, 3, prefix="more"), id="m"))
    assert sent.last["type"] == "error"
    assert sent.last["code"] == "MEMORY_LIMIT_EXCEEDED"
    assert (sent.last["requestId"], sent.last["id"]) == ("u1", "m")
    await conn.handle(search([1.0, 0.0, 0.0], k=10))
    assert sent.last["totalVectors"] == 4  # the refused batch changed nothing
    await conn.handle(upload(records(5, 3, prefix="new"), replace=True))
    assert sent.last["uploaded"] == 5


async def test_vectors_field_must_be_a_list(hub: SessionHub) -> None:
    conn, sent = connect(hub)
    await conn.handle({"type": "uploadVectors", "requestId": 3, "vectors": {"id": "a"}})
    assert sent.last["code"] == "INVALID_MESSAGE"
    assert sent.last["requestId"] == 3
    assert "$.vectors" in sent.last["message"]


async def test_search_with_nothing_to_search_is_vectors_not_loaded(hub: SessionHub) -> None:
    conn, sent = connect(hub)
    await conn.handle(search([1.0, 0.0], id="z"))
    assert sent.last == {
        "type": "error",
        "code": "VECTORS_NOT_LOADED",
        "message": sent.last["message"],
        "requestId": "q1",
        "id": "z",
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"k": 0},
        {"k": 101},
        {"k": True},
        {"threshold": 1.5},
        {"threshold": -1.01},
        {"threshold": "high"},
        {"queryVector": [1.0, 0.0]},
        {"queryVector": [0.0, 0.0, 0.0]},
        {"queryVector": "1,2,3"},
        {"metadataFilter": {"n": {"$gt": 1}}},
        {"metadataFilter": {"n": {"$in": 3}}},
        {"metadataFilter": ["n"]},
        {"metadataFilter": {"": 1}},
    ],
)
async def test_invalid_search_requests_are_invalid_message(
    hub: SessionHub, changes: dict[str, Any]
) -> None:
    conn, sent = connect(hub)
    await conn.handle(upload(records(5, 3)))
    await conn.handle({**search([1.0, 0.5, 0.0], k=3), **changes})
    assert sent.last["type"] == "error"
    assert sent.last["code"] == "INVALID_MESSAGE"
    assert sent.last["requestId"] == "q1"


async def test_search_reply_shape_order_and_threshold(
    hub: SessionHub, observer: RecordingObserver
) -> None:
    conn, sent = connect(hub)
    vectors = [
        {"id": "x", "vector": [1.0, 0.0], "metadata": {"axis": "x"}},
        {"id": "y", "vector": [0.0, 1.0], "metadata": {"axis": "y"}},
        {"id": "xy", "vector": [1.0, 1.0], "metadata": {"axis": "both"}},
        {"id": "-x", "vector": [-1.0, 0.0]},
    ]
    await conn.handle(upload(vectors))
    await conn.handle(search([1.0, 0.0], k=10, request_id="s", id=1))
    reply = sent.last
    assert set(reply) == {"type", "requestId", "results", "totalVectors", "searchTimeMs", "id"}
    assert (reply["type"], reply["requestId"], reply["id"]) == ("searchVectorsResponse", "s", 1)
    assert reply["totalVectors"] == 4
    assert reply["searchTimeMs"] >= 0
    assert [r["id"] for r in reply["results"]] == ["x", "xy", "y", "-x"]
    assert [r["score"] for r in reply["results"]] == pytest.approx(
        [1.0, math.sqrt(0.5), 0.0, -1.0], abs=1e-6
    )
    assert reply["results"][0] == {
        "id": "x",
        "score": reply["results"][0]["score"],
        "metadata": {"axis": "x"},
    }
    await conn.handle(search([1.0, 0.0], k=10, threshold=0.5))
    assert [r["id"] for r in sent.last["results"]] == ["x", "xy"]
    await conn.handle(search([1.0, 0.0], k=10, metadataFilter={"axis": {"$in": ["y", "both"]}}))
    assert [r["id"] for r in sent.last["results"]] == ["xy", "y"]
    assert len(observer.searches) == 3


async def test_merged_search_spans_database_and_uploads_with_filters(
    hub: SessionHub, storage: LocalStorage, user: User
) -> None:
    db = database(user.address, counts=(30, 30), dims=6, seed=3)
    await write(storage, db.files())
    conn, sent = connect(hub)
    await conn.handle(plain_init("s1", db))
    await ended(sent, "s1")
    ups = [
        {"id": f"up-{i}", "vector": v["vector"], "metadata": {"tag": "a", "src": "up"}}
        for i, v in enumerate(records(10, 6, seed=9))
    ]
    await conn.handle(upload(ups))
    query = db.chunks[0][1][0].tolist()
    await conn.handle(search(query, k=100, metadataFilter={"tag": "a"}))
    reply = sent.last
    assert reply["totalVectors"] == db.vector_count + 10
    ids = {r["id"] for r in reply["results"]}
    db_a = {
        i for ids_, _, meta in db.chunks for i, m in zip(ids_, meta, strict=True) if m["tag"] == "a"
    }
    assert ids == db_a | {u["id"] for u in ups}
    assert reply["results"][0]["id"] == db.chunks[0][0][0]


async def test_uploads_are_pinned_to_the_loaded_database_dimension(
    hub: SessionHub, storage: LocalStorage, user: User
) -> None:
    db = database(user.address, dims=4)
    await write(storage, db.files())
    conn, sent = connect(hub)
    await conn.handle(plain_init("s1", db))
    await ended(sent, "s1")
    await conn.handle(upload(records(1, 3)))
    assert sent.last["errors"][0]["code"] == "DIMENSION_MISMATCH"
    await conn.handle(upload(records(2, 4)))
    assert sent.last["status"] == "success"
    await conn.handle(upload(records(1, 5), replace=True))
    assert sent.last["errors"][0]["code"] == "DIMENSION_MISMATCH"


async def test_an_upload_right_after_loading_complete_is_pinned_to_the_database(
    hub: SessionHub, storage: LocalStorage, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The loader sends ``loading_complete`` before it returns the lease to the session: an
    # upload arriving in between must still see the database's dimension.
    loader = hub._services.loader
    real_load = loader.load
    handover = asyncio.Event()

    async def slow_handover(*args: Any, **kwargs: Any) -> Any:
        handle = await real_load(*args, **kwargs)
        await handover.wait()
        return handle

    monkeypatch.setattr(loader, "load", slow_handover)
    db = database(user.address, dims=4)
    await write(storage, db.files())
    conn, sent = connect(hub)
    await conn.handle(plain_init("s1", db))
    await ended(sent, "s1")
    uploading = asyncio.create_task(conn.handle(upload(records(1, 3))))
    for _ in range(5):
        await asyncio.sleep(0)
    handover.set()
    await uploading
    assert sent.last["errors"][0]["code"] == "DIMENSION_MISMATCH"


async def test_uploads_of_another_length_made_during_the_load_are_named_on_search(
    make_hub: HubMaker, user: User
) -> None:
    db = database(user.address, dims=4)
    storage = gated_memory_storage(db.files())
    gate = storage.hold(chunk_path(db.path, 0))
    conn, sent = connect(make_hub(storage=storage))
    await conn.handle(plain_init("s1", db))
    await conn.handle(upload(records(2, 3)))
    assert sent.last["status"] == "success"
    gate.set()
    await ended(sent, "s1")
    await conn.handle(search([1.0, 0.0, 0.0, 0.0]))
    assert sent.last["code"] == "INVALID_MESSAGE"
    assert "uploads have 3" in sent.last["message"]
    await conn.handle(upload(records(2, 4), replace=True))
    await conn.handle(search([1.0, 0.0, 0.0, 0.0]))
    assert sent.last["totalVectors"] == db.vector_count + 2


async def test_searches_are_answered_while_another_session_loads(
    make_hub: HubMaker, user: User
) -> None:
    db = database(user.address)
    storage = gated_memory_storage(db.files())
    held = chunk_path(db.path, 0)
    gate = storage.hold(held)
    hub = make_hub(storage=storage)
    loading, _ = connect(hub)
    await loading.handle(plain_init("loading", db))
    await until(lambda: held in storage.waiting)
    conn, sent = connect(hub)
    await conn.handle(upload(records(50, 8)))
    for _ in range(5):
        await conn.handle(search([1.0] * 8))
        assert sent.last["type"] == "searchVectorsResponse"
    assert held in storage.waiting
    gate.set()
