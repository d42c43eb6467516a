"""50 sessions loading at once on a fresh server: errors, wall time, and cross-talk.

Sessions are spread round-robin over a few databases of 1K and 10K vectors (plaintext CBOR
and encrypted JSON), so several sessions name the same database (they share one load) and
others load different ones at the same time. Each database has its own id prefix: after
loading, every session searches one of its database's queries and every hit must carry that
prefix (no cross-talk) and match exact search.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np

from benchmarks.baselines import ExactSearch, K, recall_at_k
from benchmarks.data import Dataset, Published
from benchmarks.measure import REQUEST_TIMEOUT_S, init_and_load, row_of
from benchmarks.server import Server
from s5vec.client import S5VecClient


@dataclass
class SharedDatabase:
    """One database of the concurrency test, with its ground truth."""

    dataset: Dataset
    published: Published
    exact: ExactSearch


async def _session(
    index: int,
    client: S5VecClient,
    db: SharedDatabase,
    host_key: bytes,
    start: asyncio.Event,
) -> dict[str, Any]:
    await start.wait()
    load = await init_and_load(client, db.published, f"c{index}", host_key)
    query = index % len(db.dataset.queries)
    reply = await client.search(db.dataset.queries[query].tolist(), k=K)
    rows = [row_of(hit.id, db.dataset.prefix) for hit in reply.results]
    return {
        "load_s": load.load_s,
        "ack_ms": load.ack_ms,
        "count_ok": load.vector_count == db.dataset.count,
        "foreign": sum(row is None for row in rows),
        "found": [row for row in rows if row is not None],
        "truth": db.exact.truth[query],
    }


async def concurrent_sessions(
    server: Server, databases: list[SharedDatabase], sessions: int
) -> dict[str, Any]:
    """Connect ``sessions`` clients, then init them all at once and wait for every load."""
    idle = server.rss()["VmRSS"]
    errors: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        )
        clients = await asyncio.gather(
            *(
                stack.enter_async_context(
                    S5VecClient.connect(server.ws_url, request_timeout=REQUEST_TIMEOUT_S, http=http)
                )
                for _ in range(sessions)
            )
        )
        host_key = await clients[0].host_public_key()
        start = asyncio.Event()
        tasks = [
            asyncio.create_task(_session(i, client, databases[i % len(databases)], host_key, start))
            for i, client in enumerate(clients)
        ]
        await asyncio.sleep(0)
        started = time.perf_counter()
        start.set()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        wall = time.perf_counter() - started
        rss_loaded = server.rss()["VmRSS"]
    ok = [o for o in outcomes if isinstance(o, dict)]
    errors = [f"{type(o).__name__}: {o}" for o in outcomes if not isinstance(o, dict)]
    loads = [o["load_s"] for o in ok]
    return {
        "sessions": sessions,
        "databases": [
            {
                "name": db.published.name,
                "vectors": db.dataset.count,
                "format": db.published.fmt,
                "encrypted": db.published.encrypted,
                "sessions": len(range(i, sessions, len(databases))),
            }
            for i, db in enumerate(databases)
        ],
        "completed": len(ok),
        "errors": len(errors),
        "error_messages": errors[:10],
        "wall_s": wall,
        "load_s_p50": float(np.median(loads)) if loads else None,
        "load_s_max": float(max(loads)) if loads else None,
        "ack_ms_max": float(max(o["ack_ms"] for o in ok)) if ok else None,
        "wrong_counts": sum(not o["count_ok"] for o in ok),
        "cross_talk_hits": sum(o["foreign"] for o in ok),
        "recall_at_10": recall_at_k([o["found"] for o in ok], [o["truth"] for o in ok]),
        "rss_growth_mb": rss_loaded - idle,
    }
