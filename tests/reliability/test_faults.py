"""Storage faults end to end (SPEC sections 3 and 7): each fault has one documented outcome.

A host reads a fault-injecting store over the bridge API (``S5_DOWNLOAD_TIMEOUT_SECONDS=1``,
``S5_DOWNLOAD_RETRIES=2``). For every fault, the victim's load is either retried and loaded,
or ends with exactly one ``loading_error`` carrying the documented code, within the time the
retry settings allow; meanwhile a bystander session keeps getting search answers and another
bystander loads a healthy database from the same store.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.faults.store import Corrupt, Fault, FaultyStore, Latency, Stall, Status
from tests.reliability.faultcases import (
    CASES,
    LOADED,
    Case,
    check_search,
    keep_searching,
    open_plain,
    script,
    target_path,
)
from tests.reliability.harness import HOST_KEY, Figures, HostFactory, eventually, load_bound_s
from tests.reliability.wire import Peer, encrypted_init, peer, plain_init, search
from tests.server.helpers import OWNER, OWNER_KEY, SESSION_KEY, publish


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_fault_has_its_documented_outcome_and_spares_other_sessions(
    case: Case,
    store: FaultyStore,
    start_host: HostFactory,
    http: aiohttp.ClientSession,
    figures: Figures,
) -> None:
    key = SESSION_KEY if case.encrypted else None
    victim = await publish(store.files, "victim", (4, 5, 3), key=key)
    steady = await publish(store.files, "steady", (6, 6), seed=1)
    late = await publish(store.files, "late", (3, 3, 3), seed=2, fmt="json")
    host = await start_host()
    async with (
        peer(http, host.ws_url) as searcher,
        peer(http, host.ws_url) as loader,
        peer(http, host.ws_url) as p,
    ):
        await open_plain(searcher, "steady", steady)
        assert (await searcher.outcome("steady"))["event"] == "loading_complete"
        path = script(store, case, victim)

        stop = asyncio.Event()
        searching = asyncio.create_task(keep_searching(searcher, steady, stop))
        started = time.monotonic()
        if case.encrypted:
            init = encrypted_init("victim", HOST_KEY, OWNER_KEY, SESSION_KEY, *victim.spec)
        else:
            init = plain_init("victim", victim.manifest_path, OWNER)
        ack = await p.request(init)
        assert ack["type"] == "session_init_ack", ack
        await open_plain(loader, "late", late)  # a healthy load beside the faulty one

        end = await p.outcome("victim", wait_s=load_bound_s())
        elapsed = time.monotonic() - started
        assert (await loader.outcome("late"))["event"] == "loading_complete"
        stop.set()
        answered = await searching

        if case.outcome == LOADED:
            assert end["event"] == "loading_complete", end
            assert end["vector_count"] == len(victim.ids)
            await check_search(p, victim)
        else:
            assert end["event"] == "loading_error", end
            assert end["error_code"] == case.outcome
            reply = await p.request(search(victim.vectors[0].tolist()))
            assert reply["type"] == "error"
            assert reply["code"] == case.outcome  # a search names the load's own error
        assert p.terminals("victim") == [end]  # exactly one terminal event
        assert elapsed < load_bound_s()
        assert case.gets_match(store.count(path)), [h.fault for h in store.requests(path)]
        await check_search(loader, late)
        await check_search(searcher, steady)
        assert host.services.hub.active_sessions == 3

    figures.add(
        "faults injected (fault -> outcome)",
        f"{case.name}: {end['event']} {end.get('error_code', '')} "
        f"in {elapsed:.1f} s, {store.count(path)} GETs of the "
        f"{'manifest' if case.target == 'all' else case.target}, "
        f"{answered} bystander searches answered",
    )


async def test_retry_after_is_honoured_before_the_next_attempt(
    store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    db = await publish(store.files, "polite", (2, 2))
    chunk = target_path(db, "chunk")
    store.script.add(chunk, Status(429, "1"))
    host = await start_host()
    async with peer(http, host.ws_url) as p:
        await open_plain(p, "s", db)
        assert (await p.outcome("s"))["event"] == "loading_complete"
    first, second = store.requests(chunk)
    assert second.at - first.at >= 0.9  # the hint (1 s, within the 1 s cap) was waited out


async def test_a_load_slower_than_the_load_timeout_is_timeout(
    store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    db = await publish(store.files, "slow", (2, 2))
    store.script.always(target_path(db, "chunk"), Stall())
    # 3 s for the whole load, 30 s per file: the load timeout must end it.
    host = await start_host(S5_LOADING_TIMEOUT_MINUTES="0.05", S5_DOWNLOAD_TIMEOUT_SECONDS="30")
    async with peer(http, host.ws_url) as p:
        started = time.monotonic()
        await open_plain(p, "s", db)
        end = await p.outcome("s", wait_s=3 + 5)
        assert end["error_code"] == "TIMEOUT"
        assert time.monotonic() - started < 3 + 5
        assert p.terminals("s") == [end]


async def test_a_rate_limit_wait_past_the_load_timeout_is_rate_limit_exceeded(
    store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    db = await publish(store.files, "popular", (2, 2, 2, 2))
    host = await start_host(
        S5_RATE_LIMIT_REQUESTS="2",
        S5_RATE_LIMIT_WINDOW_SECONDS="3600",
        S5_LOADING_TIMEOUT_MINUTES="0.1",
    )
    async with peer(http, host.ws_url) as p, peer(http, host.ws_url) as other:
        await open_plain(p, "s", db)
        end = await p.outcome("s", wait_s=6 + 5)
        assert end["error_code"] == "RATE_LIMIT_EXCEEDED"
        assert p.terminals("s") == [end]
        # The limiter is shared by design; sessions working on uploads are not held up.
        uploaded = await other.request(
            {"type": "uploadVectors", "requestId": "u", "vectors": [{"id": "a", "vector": [1, 2]}]}
        )
        assert uploaded["status"] == "success"
        found = await other.request(search([1.0, 2.0], k=1))
        assert found["results"][0]["id"] == "a"


async def test_an_unreachable_store_fails_loads_and_degrades_health(
    tmp_path: object, start_host: HostFactory, http: aiohttp.ClientSession, free_port: int
) -> None:
    host = await start_host(ENHANCED_S5_URL=f"http://127.0.0.1:{free_port}")
    db_path = f"home/vector-databases/{OWNER}/gone/manifest.json"
    async with peer(http, host.ws_url) as p:
        assert (await p.request(plain_init("s", db_path, OWNER)))["type"] == "session_init_ack"
        end = await p.outcome("s", wait_s=load_bound_s(1))
        assert end["error_code"] == "MANIFEST_DOWNLOAD_FAILED"
        async with http.get(host.url + "/health") as response:
            health = await response.json()
        assert response.status == 200
        assert health["status"] == "degraded"
        assert health["storage"]["healthy"] is False
        assert health["sessions"] == 1


async def test_a_failing_store_health_check_degrades_host_health(
    store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    host = await start_host()
    store.script.always("/health", Status(503))
    async with http.get(host.url + "/health") as response:
        assert (await response.json())["status"] == "degraded"
    store.script.clear()
    async with http.get(host.url + "/health") as response:
        assert (await response.json())["status"] == "healthy"


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [(Status(503), LOADED), (Corrupt(), "CHUNK_PARSE_ERROR")],
    ids=["transient", "permanent"],
)
async def test_sessions_sharing_a_database_share_the_fault_and_its_outcome(
    fault: Fault,
    outcome: str,
    store: FaultyStore,
    start_host: HostFactory,
    http: aiohttp.ClientSession,
) -> None:
    db = await publish(store.files, "shared", (3, 3, 3))
    chunk = target_path(db, "chunk")
    store.script.add(chunk, Latency(0.5, fault))  # every session joins before the fault
    host = await start_host()
    async with asyncio.TaskGroup() as group:
        sockets = [group.create_task(http.ws_connect(host.ws_url)) for _ in range(5)]
    peers = [Peer(ws.result()) for ws in sockets]
    try:
        for p in peers:
            await p.receive()  # connected
        for index, p in enumerate(peers):
            await open_plain(p, f"s{index}", db)
        ends = [await p.outcome(f"s{i}", wait_s=load_bound_s()) for i, p in enumerate(peers)]
    finally:
        for p in peers:
            await p.ws.close()
    if outcome == LOADED:
        assert {end["event"] for end in ends} == {"loading_complete"}
    else:
        assert {end.get("error_code") for end in ends} == {outcome}
    assert all(len(p.terminals(f"s{i}")) == 1 for i, p in enumerate(peers))
    assert store.count(db.manifest_path) == 1  # one shared manifest GET
    assert store.count(chunk) <= 2  # one shared load: the fault, then at most one retry


async def test_disconnecting_during_a_stall_frees_the_session(
    store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    db = await publish(store.files, "stuck", (2, 2))
    chunk = target_path(db, "chunk")
    store.script.always(chunk, Stall())
    host = await start_host(S5_DOWNLOAD_TIMEOUT_SECONDS="30")
    async with peer(http, host.ws_url) as p:
        await open_plain(p, "s", db)
        await p.until(lambda f: f.get("payload", {}).get("event") == "chunk_downloaded")
        await eventually(lambda: store.count(chunk) > 0, "the stalled chunk was requested")
    hub = host.services.hub
    await eventually(lambda: not hub.active_sessions and not hub.connections, "session freed")
    async with http.get(host.url + "/health") as response:
        assert (await response.json())["sessions"] == 0


async def test_a_second_init_cancels_a_stalled_load_before_its_ack(
    store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    stuck = await publish(store.files, "stuck", (2, 2))
    fine = await publish(store.files, "fine", (2, 2), seed=3)
    store.script.always(target_path(stuck, "chunk"), Stall())
    host = await start_host(S5_DOWNLOAD_TIMEOUT_SECONDS="30")
    async with peer(http, host.ws_url) as p:
        await open_plain(p, "old", stuck)
        await p.until(lambda f: f.get("payload", {}).get("event") == "chunk_downloaded")
        ack = await p.request(plain_init("new", fine.manifest_path, OWNER))
        assert ack["session_id"] == "new"
        cancelled = p.terminals("old")
        assert [end["error_code"] for end in cancelled] == ["CANCELLED"]
        assert p.seen.index(ack) > max(
            i for i, f in enumerate(p.seen) if f.get("session_id") == "old"
        )
        assert (await p.outcome("new"))["event"] == "loading_complete"
        await check_search(p, fine)
