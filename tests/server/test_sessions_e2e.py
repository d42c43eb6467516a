"""Sessions end to end over a real socket: init, background load, search (SPEC sections 2-4)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from s5vec.client import ClientError, S5VecClient
from s5vec.storage.bridge import BridgeStorage
from s5vec.storage.local import LocalStorage
from tests.server.conftest import HostFactory
from tests.server.helpers import (
    OWNER,
    OWNER_KEY,
    SESSION_KEY,
    Database,
    RunningHost,
    connect,
    publish,
    receive_until,
    stuck_load,
)


def is_final(frame: dict[str, Any]) -> bool:
    """The load's last progress frame."""
    return frame.get("type") == "vector_loading_progress" and frame["payload"]["event"] in (
        "loading_complete",
        "loading_error",
    )


def check_progress(
    frames: list[dict[str, Any]], session_id: str, db: Database, *, cached: bool = False
) -> bool:
    """A complete, successful progress stream of ``db`` for ``session_id`` and nothing else.

    With ``cached``, a cache hit's short stream (no chunk events) is accepted too; returns
    whether the stream had its chunk events.
    """
    assert all(frame["type"] == "vector_loading_progress" for frame in frames)
    assert {frame["session_id"] for frame in frames} == {session_id}
    payloads = [frame["payload"] for frame in frames]
    assert payloads[0]["event"] == "manifest_downloaded"
    assert payloads[-1]["event"] == "loading_complete"
    assert payloads[-1]["vector_count"] == len(db.ids)
    chunks = [p for p in payloads if p["event"] == "chunk_downloaded"]
    if cached and not chunks:
        assert len(payloads) == 2
        return False
    assert sorted(p["chunk_id"] for p in chunks) == [0, 1, 2]
    assert [p["percent"] for p in chunks] == [33, 66, 100]
    return True


async def test_plain_init_loads_a_local_database_and_searches_it(
    host: RunningHost, http: aiohttp.ClientSession
) -> None:
    db = await publish(host.services.storage, "docs")
    ws = await connect(http, host)
    await ws.send_json(
        {
            "type": "session_init",
            "session_id": "s1",
            "job_id": 123,
            "chain_id": 84532,
            "id": "m1",
            "vector_database": db.vector_database(),
        }
    )
    frames = await receive_until(ws, is_final)
    ack = frames[0]
    assert ack["type"] == "session_init_ack"
    assert {k: ack[k] for k in ("status", "session_id", "job_id", "chain_id", "id")} == {
        "status": "success",
        "session_id": "s1",
        "job_id": 123,
        "chain_id": 84532,
        "id": "m1",
    }
    assert "client_address" not in ack
    check_progress(frames[1:], "s1", db)

    await ws.send_json(
        {
            "type": "searchVectors",
            "requestId": "q1",
            "id": "m2",
            "queryVector": db.vectors[5].tolist(),
            "k": 3,
        }
    )
    reply = await ws.receive_json(timeout=30)
    assert reply["type"] == "searchVectorsResponse"
    assert (reply["requestId"], reply["id"], reply["totalVectors"]) == ("q1", "m2", 18)
    assert len(reply["results"]) == 3
    best = reply["results"][0]
    assert best["id"] == "docs-5"
    assert best["score"] == pytest.approx(1.0, abs=1e-3)
    assert best["metadata"] == {"db": "docs", "row": 5}

    await ws.send_json(
        {
            "type": "searchVectors",
            "requestId": "q2",
            "queryVector": db.vectors[5].tolist(),
            "k": 5,
            "metadataFilter": {"row": {"$in": [7, 9]}},
        }
    )
    filtered = await ws.receive_json(timeout=30)
    assert sorted(hit["id"] for hit in filtered["results"]) == ["docs-7", "docs-9"]
    await ws.close()


async def test_sessions_count_in_health_and_metrics(
    host: RunningHost, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, host)
    await ws.send_json({"type": "session_init", "session_id": "s1", "id": "m1"})
    assert (await ws.receive_json(timeout=30))["type"] == "session_init_ack"
    async with http.get(host.url + "/health") as response:
        assert (await response.json())["sessions"] == 1
    async with http.get(host.url + "/metrics") as response:
        assert "active_sessions 1.0" in await response.text()
    await ws.close()


async def test_plain_init_loads_through_the_bridge_backend(
    start_host: HostFactory, dev_store: str
) -> None:
    bridge = BridgeStorage(dev_store, timeout_s=10, retries=0)
    try:
        db = await publish(bridge, "remote-docs", fmt="json")
    finally:
        await bridge.close()
    host = await start_host(S5_STORAGE="bridge", ENHANCED_S5_URL=dev_store)
    async with S5VecClient.connect(host.ws_url) as client:
        ack = await client.init_session("s-bridge", vector_database=db.spec)
        assert ack.session_id == "s-bridge"
        events = [event async for event in client.progress()]
        assert [e.percent for e in events if e.event == "chunk_downloaded"] == [33, 66, 100]
        assert events[-1].event == "loading_complete"
        assert events[-1].vector_count == 18
        found = await client.search(db.vectors[11].tolist(), k=1)
    assert [hit.id for hit in found.results] == ["remote-docs-11"]


@pytest.mark.parametrize("eip191", [False, True], ids=["raw-signature", "eip191-signature"])
async def test_encrypted_init_loads_an_encrypted_database(host: RunningHost, eip191: bool) -> None:
    db = await publish(host.services.storage, "secret-docs", key=SESSION_KEY)
    async with S5VecClient.connect(host.ws_url) as client:
        ack = await client.init_encrypted_session(
            "s-enc", OWNER_KEY, SESSION_KEY, vector_database=db.spec, eip191=eip191
        )
        assert ack.client_address is not None
        assert ack.client_address.lower() == OWNER.lower()
        done = await client.wait_loaded(timeout=60)
        assert done.vector_count == 18
        found = await client.search(db.vectors[2].tolist(), k=2)
    assert found.results[0].id == "secret-docs-2"


async def test_plain_init_of_an_encrypted_database_needs_a_key(host: RunningHost) -> None:
    db = await publish(host.services.storage, "secret-docs", key=SESSION_KEY)
    async with S5VecClient.connect(host.ws_url) as client:
        await client.init_session("s-plain", vector_database=db.spec)
        with pytest.raises(ClientError) as failed:
            await client.wait_loaded(timeout=60)
    assert failed.value.code == "INVALID_SESSION_KEY"


async def test_encrypted_init_without_a_host_key_is_not_supported(
    start_host: HostFactory, tmp_path: Any
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("no data directory here")
    host = await start_host(HOST_PRIVATE_KEY="", S5VEC_DATA_DIR=str(blocker))
    some_host_key = bytes.fromhex(
        "02" + "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    )
    async with S5VecClient.connect(host.ws_url) as client:
        with pytest.raises(ClientError) as refused:
            await client.init_encrypted_session(
                "s-enc", OWNER_KEY, SESSION_KEY, host_public_key=some_host_key
            )
    assert refused.value.code == "ENCRYPTION_NOT_SUPPORTED"


async def _session_on(
    host: RunningHost, session_id: str, db: Database, *, cached: bool = False
) -> bool:
    """One client: init on ``db``, check its own progress, then search its own vectors.

    Returns whether its progress had chunk events (``cached``: a cache hit may have none).
    """
    async with aiohttp.ClientSession() as http:
        ws = await connect(http, host)
        await ws.send_json(
            {
                "type": "session_init",
                "session_id": session_id,
                "id": f"init-{session_id}",
                "vector_database": db.vector_database(),
            }
        )
        frames = await receive_until(ws, is_final, wait_s=120)
        assert frames[0]["type"] == "session_init_ack"
        assert frames[0]["id"] == f"init-{session_id}"
        streamed = check_progress(frames[1:], session_id, db, cached=cached)
        for row in (0, 9, 17):
            await ws.send_json(
                {
                    "type": "searchVectors",
                    "requestId": f"{session_id}-{row}",
                    "queryVector": db.vectors[row].tolist(),
                    "k": 3,
                }
            )
            reply = await ws.receive_json(timeout=60)
            assert reply["requestId"] == f"{session_id}-{row}"
            assert reply["results"][0]["id"] == db.ids[row]
            assert all(hit["metadata"]["db"] == db.name for hit in reply["results"])
        await ws.close()
    return streamed


async def test_ten_concurrent_sessions_on_one_database(host: RunningHost) -> None:
    db = await publish(host.services.storage, "shared")
    # Sessions arriving after the shared load finished are cache hits (no chunk events).
    streamed = await asyncio.gather(
        *(_session_on(host, f"same-{n}", db, cached=True) for n in range(10))
    )
    assert any(streamed)
    registry = host.services.metrics.registry
    hits = registry.get_sample_value("vector_index_cache_hits_total")
    misses = registry.get_sample_value("vector_index_cache_misses_total")
    assert hits is not None
    assert misses is not None
    assert hits + misses == 10


async def test_ten_concurrent_sessions_on_different_databases(host: RunningHost) -> None:
    dbs = [await publish(host.services.storage, f"db{n}", seed=n) for n in range(10)]
    await asyncio.gather(*(_session_on(host, f"own-{n}", db) for n, db in enumerate(dbs)))


async def test_a_search_during_a_load_is_answered_at_once(
    start_host: HostFactory,
    stalling_bridge: tuple[str, LocalStorage],
    http: aiohttp.ClientSession,
) -> None:
    _, ws = await stuck_load(start_host, stalling_bridge, http)
    query = {"type": "searchVectors", "requestId": "q", "id": 7, "queryVector": [1.0] * 16, "k": 3}
    await ws.send_json(query)
    reply = await receive_until(ws, lambda f: f.get("type") != "vector_loading_progress")
    assert reply[-1]["type"] == "error"
    assert reply[-1]["code"] == "VECTORS_LOADING"
    assert (reply[-1]["requestId"], reply[-1]["id"]) == ("q", 7)
    await ws.send_str('{"type": "no_such_type", "id": "still-here"}')
    reply = await receive_until(ws, lambda f: f.get("type") != "vector_loading_progress")
    assert reply[-1]["id"] == "still-here"
    await ws.close()
