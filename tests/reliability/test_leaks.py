"""Leaks (SPEC section 3: "disconnecting cancels the load and frees its memory").

Repeated cycles of sessions that load, search and disconnect. After every cycle the host holds
no session, no connection, no task beyond idle, and no index, session or upload store object
(counted by the garbage collector, so allocator noise cannot hide a leak); and over the
cycles the process RSS (``/proc/self/statm``, after ``gc`` and ``malloc_trim``) does not
grow. With the index cache enabled, the indexes left are exactly the cache's entries and
clearing the cache frees them. The first cycles raise the allocator's high-water mark, so the
RSS baseline is taken after warm-up cycles of the same size (SPEC 10 measures memory the
same way: from idle after a warm-up load).
"""

from __future__ import annotations

import ctypes
import gc
import os
from dataclasses import dataclass

import aiohttp
import numpy as np

from s5vec.index import DatabaseIndex, UploadedVectors
from s5vec.sessions import Connection
from s5vec.sessions.session import Session
from tests.faults.store import FaultyStore
from tests.reliability.harness import Figures, HostFactory, eventually, soak
from tests.reliability.load import all_closed, host_tasks
from tests.reliability.wire import Peer, plain_init, search
from tests.server.helpers import OWNER, Database, RunningHost, publish

MIB = 1 << 20
LIBC = ctypes.CDLL("libc.so.6")


@dataclass(frozen=True)
class CycleSize:
    """Sessions per cycle, each on its own database of ``vectors`` x ``dims``."""

    sessions: int
    vectors: int
    dims: int
    warmup: int
    cycles: int

    @property
    def vector_bytes(self) -> int:
        """The float32 vectors one cycle loads (an index keeps 1/4 to all of that in RAM)."""
        return self.sessions * self.vectors * self.dims * 4


SMALL = CycleSize(sessions=10, vectors=4000, dims=256, warmup=3, cycles=5)
SOAK = CycleSize(sessions=50, vectors=2000, dims=256, warmup=3, cycles=15)
RSS_SLACK = 16 * MIB
"""Allocator noise allowed on top of the baseline (well under one cycle's indexes)."""


def rss() -> int:
    """This process's resident memory once garbage and free heap pages are given back."""
    gc.collect()
    LIBC.malloc_trim(0)
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def alive(kind: type) -> int:
    """Live instances of ``kind``."""
    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, kind))


def census() -> dict[str, int]:
    """Live host objects that a disconnect must free."""
    kinds = (DatabaseIndex, Session, Connection, UploadedVectors)
    return {kind.__name__: alive(kind) for kind in kinds}


async def cycle(host: RunningHost, http: aiohttp.ClientSession, dbs: list[Database]) -> None:
    """Every database loaded by its own session, searched, then every client gone."""
    peers = [Peer(await http.ws_connect(host.ws_url)) for _ in dbs]
    try:
        for index, (p, db) in enumerate(zip(peers, dbs, strict=True)):
            await p.receive()
            await p.send({**plain_init(f"s{index}", db.manifest_path, OWNER), "id": "init"})
        for index, (p, db) in enumerate(zip(peers, dbs, strict=True)):
            assert (await p.outcome(f"s{index}", wait_s=60))["event"] == "loading_complete"
            found = await p.request(search(db.vectors[index].tolist(), k=1))
            assert found["results"][0]["id"] == db.ids[index]
            uploaded = await p.request(
                {
                    "type": "uploadVectors",
                    "vectors": [{"id": "u", "vector": [1.0] * db.vectors.shape[1]}],
                }
            )
            assert uploaded["uploaded"] == 1
    finally:
        for p in peers:
            await p.ws.close()
    await all_closed(host)


async def publish_cycle_dbs(store: FaultyStore, size: CycleSize) -> list[Database]:
    """The databases a cycle loads."""
    half = size.vectors // 2
    return [
        await publish(store.files, f"cycle-{i}", (half, size.vectors - half), size.dims, seed=i)
        for i in range(size.sessions)
    ]


async def _no_growth(
    size: CycleSize,
    store: FaultyStore,
    start_host: HostFactory,
    http: aiohttp.ClientSession,
    figures: Figures,
) -> None:
    dbs = await publish_cycle_dbs(store, size)
    host = await start_host(VECTOR_INDEX_CACHE_SIZE="0", S5_DOWNLOAD_TIMEOUT_SECONDS="10")
    idle_tasks = host_tasks(host)
    for _ in range(size.warmup):
        await cycle(host, http, dbs)
    baseline = rss()
    after: list[int] = []
    for _ in range(size.cycles):
        await cycle(host, http, dbs)
        await eventually(lambda: not any(census().values()), lambda: f"objects left: {census()}")
        await eventually(
            lambda: host_tasks(host) == idle_tasks, lambda: f"tasks left: {host_tasks(host)}"
        )
        after.append(rss())
    growth = after[-1] - baseline
    slope = float(np.polyfit(np.arange(len(after)), np.asarray(after), 1)[0])
    figures.add(
        "leaks (index cache disabled)",
        f"{size.cycles} cycles x {size.sessions} sessions ({size.vector_bytes / MIB:.0f} MiB of "
        f"float32 vectors per cycle) after {size.warmup} warm-up cycles: RSS baseline "
        f"{baseline / MIB:.0f} MiB, after each cycle {[round(a / MIB) for a in after]} MiB, "
        f"growth {growth / MIB:+.1f} MiB (slope {slope / MIB:+.2f} MiB/cycle); sessions, "
        "connections, tasks and index/session/upload objects back to 0 after every cycle",
    )
    assert growth < RSS_SLACK, f"RSS grew {growth / MIB:.1f} MiB over {size.cycles} cycles"
    if size.cycles >= 10:  # enough points for a trend
        assert slope < size.vector_bytes / 40, f"RSS grows {slope / MIB:.2f} MiB per cycle"


async def test_load_disconnect_cycles_leave_nothing_behind(
    store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession, figures: Figures
) -> None:
    await _no_growth(SMALL, store, start_host, http, figures)


@soak
async def test_many_load_disconnect_cycles_leave_nothing_behind(
    store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession, figures: Figures
) -> None:
    await _no_growth(SOAK, store, start_host, http, figures)


async def test_cached_indexes_are_all_the_memory_left_and_clearing_frees_them(
    store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession, figures: Figures
) -> None:
    size = SMALL
    dbs = await publish_cycle_dbs(store, size)
    host = await start_host(VECTOR_INDEX_CACHE_SIZE="0", S5_DOWNLOAD_TIMEOUT_SECONDS="10")
    for _ in range(size.warmup):  # the same work without a cache: the allocator's high water
        await cycle(host, http, dbs)
    await host.stop()
    cached_host = await start_host(S5_DOWNLOAD_TIMEOUT_SECONDS="10")
    cache = cached_host.services.cache
    baseline = rss()
    await cycle(cached_host, http, dbs)
    await eventually(lambda: alive(DatabaseIndex) == len(cache), "only cached indexes alive")
    assert len(cache) == size.sessions
    held = rss() - baseline
    accounted = cache.memory_bytes()
    assert accounted > 0
    assert held < accounted + RSS_SLACK, (
        f"{held / MIB:.1f} MiB held, the cache accounts for {accounted / MIB:.1f} MiB"
    )
    cache.clear()
    await eventually(lambda: alive(DatabaseIndex) == 0, "cleared indexes freed")
    freed = rss() - baseline
    assert freed < RSS_SLACK, f"{freed / MIB:.1f} MiB still held after clearing the cache"
    await cycle(cached_host, http, dbs)  # a cleared cache loads again from storage
    assert census()["Session"] == 0
    figures.add(
        "leaks (index cache enabled)",
        f"{size.sessions} cached databases: RSS {held / MIB:+.1f} MiB over the baseline while "
        f"the cache accounts for {accounted / MIB:.1f} MiB; after clearing it "
        f"{freed / MIB:+.1f} MiB",
    )
