"""A load wave: many sessions load databases at once while loaded sessions keep searching.

``run_wave`` publishes the databases (half the sessions share one, the others each get their
own), opens every socket at once, and drives ``searchers`` loaded sessions with back-to-back
searches until the last load ends. It checks what SPEC sections 3, 4 and 10 promise: every
load completes with the right count, every search is answered correctly, nothing crosses
sessions; and it returns the search latencies measured while loads were in flight.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp
import numpy as np
from aiohttp.web_protocol import RequestHandler

from tests.faults.store import FaultyStore, Latency
from tests.reliability.harness import eventually
from tests.reliability.wire import Peer, plain_init, search
from tests.server.helpers import OWNER, Database, RunningHost, publish

SEARCH_HANG_S = 10.0
"""No search may take longer: catches a blocked event loop, not slowness."""


@dataclass(frozen=True)
class WaveSize:
    """How big a wave is."""

    sessions: int
    chunks: int
    vectors_per_chunk: int
    dims: int
    searchers: int = 3
    chunk_latency_s: float = 0.1


@dataclass
class WaveResult:
    """What a wave measured."""

    loaded: int = 0
    latencies_s: list[float] = field(default_factory=list)
    load_seconds: float = 0.0

    def percentile_ms(self, q: float) -> float:
        """The ``q``-th percentile of the search latencies, in ms."""
        return float(np.percentile(np.asarray(self.latencies_s) * 1000, q))


async def publish_wave(store: FaultyStore, size: WaveSize, tag: str) -> list[Database]:
    """One database per session: the first half all the same one, the rest each their own."""
    counts = (size.vectors_per_chunk,) * size.chunks
    shared = await publish(store.files, f"{tag}-shared", counts, size.dims, seed=1000)
    own = size.sessions - size.sessions // 2
    dbs = [shared] * (size.sessions // 2)
    for index in range(own):
        dbs.append(
            await publish(store.files, f"{tag}-own-{index}", counts, size.dims, seed=2000 + index)
        )
    return dbs


async def check_own_search(p: Peer, db: Database, row: int) -> None:
    """The session's search finds its own database's vector (no cross-talk)."""
    reply = await p.request(search(db.vectors[row].tolist(), k=1), SEARCH_HANG_S)
    assert reply["type"] == "searchVectorsResponse", reply
    assert reply["results"][0]["id"] == db.ids[row], (reply, db.name)


async def keep_searching(
    p: Peer, db: Database, loading: asyncio.Event, done: asyncio.Event, result: WaveResult
) -> None:
    """Back-to-back searches until ``done``; latencies count while ``loading`` is set."""
    row = 0
    while not done.is_set():
        started = time.perf_counter()
        await check_own_search(p, db, row % len(db.ids))
        if loading.is_set():
            result.latencies_s.append(time.perf_counter() - started)
        row += 7


async def run_wave(
    host: RunningHost,
    store: FaultyStore,
    http: aiohttp.ClientSession,
    size: WaveSize,
    tag: str,
) -> WaveResult:
    """Run one wave and check it; every socket is closed when it returns."""
    result = WaveResult()
    dbs = await publish_wave(store, size, tag)
    steady = await publish(store.files, f"{tag}-steady", (50, 50), size.dims, seed=7)
    store.script.always(f"*/{tag}-*/chunk-*", Latency(size.chunk_latency_s))
    loading, done = asyncio.Event(), asyncio.Event()
    async with asyncio.TaskGroup() as sockets:
        searchers = [
            sockets.create_task(http.ws_connect(host.ws_url)) for _ in range(size.searchers)
        ]
        wave = [sockets.create_task(http.ws_connect(host.ws_url)) for _ in dbs]
    searcher_peers = [Peer(task.result()) for task in searchers]
    wave_peers = [Peer(task.result()) for task in wave]
    try:
        for index, p in enumerate(searcher_peers):
            await p.receive()
            await p.request(plain_init(f"steady-{index}", steady.manifest_path, OWNER))
            assert (await p.outcome(f"steady-{index}"))["event"] == "loading_complete"
        for p in wave_peers:
            await p.receive()
        async with asyncio.TaskGroup() as group:
            for p in searcher_peers:
                group.create_task(keep_searching(p, steady, loading, done, result))
            loading.set()
            started = time.monotonic()
            acks = [
                p.send({**plain_init(f"{tag}-{i}", db.manifest_path, OWNER), "id": f"init-{i}"})
                for i, (p, db) in enumerate(zip(wave_peers, dbs, strict=True))
            ]
            await asyncio.gather(*acks)
            ends = await asyncio.gather(
                *(p.outcome(f"{tag}-{i}", wait_s=120) for i, p in enumerate(wave_peers))
            )
            result.load_seconds = time.monotonic() - started
            loading.clear()
            done.set()
        for i, (p, db, end) in enumerate(zip(wave_peers, dbs, ends, strict=True)):
            assert end["event"] == "loading_complete", end
            assert end["vector_count"] == len(db.ids)
            assert len(p.terminals(f"{tag}-{i}")) == 1
            await check_own_search(p, db, i % len(db.ids))
        result.loaded = len(ends)
        assert host.services.hub.active_sessions == len(wave_peers) + len(searcher_peers)
    finally:
        store.script.clear()
        for p in (*searcher_peers, *wave_peers):
            await p.ws.close()
    return result


async def all_closed(host: RunningHost) -> None:
    """Every session and socket is gone from the host, and its health and metrics say 0
    (asked over a connection of their own, closed after, so it holds nothing open)."""
    hub = host.services.hub
    await eventually(lambda: hub.active_sessions == 0 and hub.connections == 0, "sessions at 0")
    async with aiohttp.ClientSession() as http:
        async with http.get(host.url + "/health") as response:
            assert (await response.json())["sessions"] == 0
        async with http.get(host.url + "/metrics") as response:
            assert "active_sessions 0.0" in await response.text()


def host_tasks(host: RunningHost) -> list[str]:
    """The event loop's tasks that belong to ``host``: its own tasks and the handlers of
    connections to its port (not the fault store's, not the test's)."""
    port = int(host.url.rsplit(":", 1)[1])
    found = []
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        frame = getattr(coro, "cr_frame", None)
        owner = frame.f_locals.get("self") if frame is not None else None
        if isinstance(owner, RequestHandler):
            transport = owner.transport
            sockname = transport.get_extra_info("sockname") if transport is not None else None
            if sockname is None or sockname[1] != port:
                continue
        elif "/tests/" in getattr(getattr(coro, "cr_code", None), "co_filename", ""):
            continue
        found.append(f"{task.get_name()} ({getattr(coro, '__qualname__', coro)})")
    return sorted(found)
