"""Load (SPEC sections 3 and 10): many sessions load at once, loaded sessions keep searching.

Default run: 10 sessions (5 on one shared database, 5 on their own), 3 searchers.
``make soak``: 50 sessions. Every load completes with no cross-talk, every search during the
wave is answered (latencies recorded: p50 / p99 / max in the figures), and once every client
has gone, the host holds no session, no socket and no task beyond its idle baseline.
"""

from __future__ import annotations

import aiohttp

from tests.faults.store import FaultyStore
from tests.reliability.harness import Figures, HostFactory, eventually, soak
from tests.reliability.load import SEARCH_HANG_S, WaveSize, all_closed, host_tasks, run_wave

SMALL = WaveSize(sessions=10, chunks=4, vectors_per_chunk=250, dims=64)
SOAK = WaveSize(sessions=50, chunks=4, vectors_per_chunk=1000, dims=128, chunk_latency_s=0.2)


async def _wave(
    size: WaveSize,
    store: FaultyStore,
    start_host: HostFactory,
    http: aiohttp.ClientSession,
    figures: Figures,
) -> None:
    host = await start_host(S5_DOWNLOAD_TIMEOUT_SECONDS="10")
    baseline = host_tasks(host)
    result = await run_wave(host, store, http, size, "wave")
    assert result.loaded == size.sessions
    assert result.latencies_s, "no search ran while the loads were in flight"
    assert max(result.latencies_s) < SEARCH_HANG_S
    await all_closed(host)
    await eventually(
        lambda: host_tasks(host) == baseline,
        lambda: f"the host's tasks back to idle {baseline}: {host_tasks(host)}",
    )
    figures.add(
        "load: searches answered while sessions load (in-process host, client on the same loop)",
        f"{size.sessions} sessions loading ({size.sessions // 2} sharing one database) x "
        f"{size.chunks * size.vectors_per_chunk} vectors x {size.dims} dims, all loaded in "
        f"{result.load_seconds:.1f} s; {len(result.latencies_s)} searches: "
        f"p50 {result.percentile_ms(50):.1f} ms, p99 {result.percentile_ms(99):.1f} ms, "
        f"max {max(result.latencies_s) * 1000:.1f} ms; sessions and tasks back to 0 / baseline",
    )


async def test_ten_sessions_load_while_searches_are_answered(
    store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession, figures: Figures
) -> None:
    await _wave(SMALL, store, start_host, http, figures)


@soak
async def test_fifty_sessions_load_while_searches_are_answered(
    store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession, figures: Figures
) -> None:
    await _wave(SOAK, store, start_host, http, figures)
