"""Every fault of the matrix at once (SPEC sections 3 and 7): one session per fault, all
loading together beside a healthy load and steady searchers. Each still ends with its own
documented outcome and retry count, and nothing crosses between them."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from tests.faults.store import FaultyStore
from tests.reliability.faultcases import (
    CASES,
    LOADED,
    check_search,
    keep_searching,
    open_plain,
    script,
)
from tests.reliability.harness import HOST_KEY, Figures, HostFactory, load_bound_s, soak
from tests.reliability.wire import Peer, encrypted_init, plain_init
from tests.server.helpers import OWNER, OWNER_KEY, SESSION_KEY, publish


async def storm(
    copies: int,
    store: FaultyStore,
    start_host: HostFactory,
    http: aiohttp.ClientSession,
    figures: Figures,
) -> None:
    cases = [case for case in CASES for _ in range(copies)]
    dbs = []
    for index, case in enumerate(cases):
        key = SESSION_KEY if case.encrypted else None
        dbs.append(await publish(store.files, f"storm-{index}", (4, 5, 3), key=key, seed=index))
    steady = await publish(store.files, "steady", (6, 6), seed=999)
    counted = [script(store, case, db) for case, db in zip(cases, dbs, strict=True)]
    host = await start_host()
    sockets = await asyncio.gather(*(http.ws_connect(host.ws_url) for _ in range(len(cases) + 1)))
    peers = [Peer(ws) for ws in sockets]
    searcher, victims = peers[0], peers[1:]
    try:
        for p in peers:
            await p.receive()
        await open_plain(searcher, "steady", steady)
        assert (await searcher.outcome("steady"))["event"] == "loading_complete"
        stop = asyncio.Event()
        searching = asyncio.create_task(keep_searching(searcher, steady, stop))
        started = time.monotonic()
        for index, (p, case, db) in enumerate(zip(victims, cases, dbs, strict=True)):
            sid = f"v{index}"
            if case.encrypted:
                message = encrypted_init(sid, HOST_KEY, OWNER_KEY, SESSION_KEY, *db.spec)
            else:
                message = plain_init(sid, db.manifest_path, OWNER)
            await p.send({**message, "id": "init"})
        ends = await asyncio.gather(
            *(p.outcome(f"v{i}", wait_s=load_bound_s()) for i, p in enumerate(victims))
        )
        elapsed = time.monotonic() - started
        stop.set()
        answered = await searching
        for index, (p, case, db, end) in enumerate(zip(victims, cases, dbs, ends, strict=True)):
            outcome = "loaded" if end["event"] == "loading_complete" else end["error_code"]
            assert outcome == case.outcome, (case.name, end)
            assert len(p.terminals(f"v{index}")) == 1
            if case.outcome == LOADED:
                await check_search(p, db)  # its own vectors: no cross-talk
            assert case.gets_match(store.count(counted[index])), case.name
        assert elapsed < load_bound_s()
    finally:
        for p in peers:
            await p.ws.close()
    figures.add(
        "fault storm (every fault at once)",
        f"{len(cases)} faulty loads at once ({len(CASES)} faults x {copies}): every one its "
        f"documented outcome, all done in {elapsed:.1f} s; {answered} bystander searches "
        "answered meanwhile",
    )


async def test_every_fault_at_once_keeps_each_outcome(
    store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession, figures: Figures
) -> None:
    await storm(1, store, start_host, http, figures)


@soak
async def test_every_fault_three_times_at_once_keeps_each_outcome(
    store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession, figures: Figures
) -> None:
    await storm(3, store, start_host, http, figures)
