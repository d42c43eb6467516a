"""What one client sees over the WebSocket: init ack, load, cache hits and searches.

Times are client wall clock: ``ack`` from sending the init to its ack, ``load`` from sending
the init to ``loading_complete`` (the server's own ``duration_ms`` is kept alongside), a
search from sending ``searchVectors`` to its reply (the server's ``searchTimeMs`` too).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.baselines import ExactSearch, K, percentiles, recall_at_k
from benchmarks.data import (
    DIMENSIONS,
    FILTER_CATEGORY,
    OWNER_PRIVATE_KEY,
    SESSION_KEY,
    Dataset,
    Published,
    owner_address,
)
from benchmarks.server import Server
from s5vec.client import S5VecClient

LOAD_TIMEOUT_S = 1800.0
REQUEST_TIMEOUT_S = 120.0
RSS_POLL_S = 0.02
FILTER = {"category": {"$eq": FILTER_CATEGORY}}


@dataclass
class Load:
    """One session's load: the open client and its timings."""

    client: S5VecClient
    ack_ms: float
    load_s: float
    server_duration_ms: int | None
    vector_count: int | None


async def connect(stack: contextlib.AsyncExitStack, server: Server) -> S5VecClient:
    """Open a client on ``server`` that stays open until ``stack`` closes."""
    return await stack.enter_async_context(
        S5VecClient.connect(server.ws_url, request_timeout=REQUEST_TIMEOUT_S)
    )


async def init_and_load(
    client: S5VecClient, published: Published, session_id: str, host_key: bytes | None
) -> Load:
    """Send the init for ``published`` (encrypted init for encrypted files), wait for the load."""
    database = (published.manifest_path, owner_address())
    started = time.perf_counter()
    if published.encrypted:
        await client.init_encrypted_session(
            session_id,
            OWNER_PRIVATE_KEY,
            SESSION_KEY,
            vector_database=database,
            host_public_key=host_key,
        )
    else:
        await client.init_session(session_id, vector_database=database)
    acked = time.perf_counter()
    done = await client.wait_loaded(timeout=LOAD_TIMEOUT_S)
    loaded = time.perf_counter()
    return Load(
        client=client,
        ack_ms=(acked - started) * 1000.0,
        load_s=loaded - started,
        server_duration_ms=done.duration_ms,
        vector_count=done.vector_count,
    )


async def warm_up(server: Server, warmup: Published) -> None:
    """Load a small database and search it, so lazy imports and pools count as idle memory."""
    async with contextlib.AsyncExitStack() as stack:
        client = await connect(stack, server)
        await init_and_load(client, warmup, "warm-up", None)
        query = [1.0] * DIMENSIONS
        for metadata_filter in (None, FILTER):
            for _ in range(5):
                await client.search(query, k=10, metadata_filter=metadata_filter)


class RssPeak:
    """Polls the server's VmRSS while a load runs, for its peak."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self.peak = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _poll(self) -> None:
        while True:
            self.peak = max(self.peak, self._server.rss()["VmRSS"])
            await asyncio.sleep(RSS_POLL_S)

    async def __aenter__(self) -> RssPeak:
        self._task = asyncio.create_task(self._poll())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.peak = max(self.peak, self._server.rss()["VmRSS"])


async def cold_load(
    stack: contextlib.AsyncExitStack,
    server: Server,
    published: Published,
    session_id: str,
    host_key: bytes | None,
) -> tuple[Load, dict[str, float]]:
    """A first load of ``published``; returns it and the RSS before / peak / after (MiB)."""
    client = await connect(stack, server)
    before = server.rss()["VmRSS"]
    async with RssPeak(server) as peak:
        load = await init_and_load(client, published, session_id, host_key)
    after = server.rss()["VmRSS"]
    return load, {"before_mb": before, "peak_mb": peak.peak, "loaded_mb": after}


async def cache_hits(
    server: Server, published: Published, repeats: int, host_key: bytes | None
) -> dict[str, Any]:
    """Load an already loaded database ``repeats`` times, each on a new connection."""
    loads: list[Load] = []
    for attempt in range(repeats):
        async with contextlib.AsyncExitStack() as stack:
            client = await connect(stack, server)
            loads.append(await init_and_load(client, published, f"hit-{attempt}", host_key))
    times = [load.load_s for load in loads]
    return {
        "load_ms_median": float(np.median(times) * 1000.0),
        "load_ms_max": float(max(times) * 1000.0),
        "load_ms_all": [t * 1000.0 for t in times],
        "ack_ms_median": float(np.median([load.ack_ms for load in loads])),
        "server_duration_ms": [load.server_duration_ms for load in loads],
    }


def row_of(ident: Any, prefix: str) -> int | None:
    """The dataset row of an id ``<prefix>-<row>``; None for an id of another database."""
    text = str(ident)
    head, _, tail = text.rpartition("-")
    return int(tail) if head == prefix and tail.isdigit() else None


async def searches(
    client: S5VecClient, dataset: Dataset, exact: ExactSearch, filtered: bool, count: int
) -> dict[str, Any]:
    """``count`` k=10 searches; timings, recall@10 against exact search, and sanity counts."""
    truth = exact.filtered_truth if filtered else exact.truth
    mask = dataset.filter_mask()
    times, server_ms, found = [], [], []
    foreign = unmatched = short = 0
    for index in range(count):
        query = dataset.queries[index % len(dataset.queries)]
        started = time.perf_counter()
        reply = await client.search(
            query.tolist(), k=K, metadata_filter=FILTER if filtered else None
        )
        times.append(time.perf_counter() - started)
        if reply.search_time_ms is not None:
            server_ms.append(reply.search_time_ms / 1000.0)
        rows = [row_of(hit.id, dataset.prefix) for hit in reply.results]
        foreign += sum(row is None for row in rows)
        kept = [row for row in rows if row is not None]
        if filtered:
            unmatched += sum(not mask[row] for row in kept)
        short += len(reply.results) < min(K, len(truth[index % len(truth)]))
        found.append(kept)
    truths = [truth[i % len(truth)] for i in range(count)]
    return {
        "filtered": filtered,
        "round_trip": percentiles(times),
        "server_search_time": percentiles(server_ms) if server_ms else None,
        "recall_at_10": recall_at_k(found, truths),
        "foreign_ids": foreign,
        "filter_violations": unmatched,
        "short_answers": short,
    }


async def top_ids(client: S5VecClient, dataset: Dataset, count: int) -> list[list[str]]:
    """The ids of the top-10 hits of the first ``count`` queries, in answer order."""
    answers = []
    for index in range(count):
        query = dataset.queries[index % len(dataset.queries)]
        reply = await client.search(query.tolist(), k=K)
        answers.append([str(hit.id) for hit in reply.results])
    return answers
