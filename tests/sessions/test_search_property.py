"""Merged filtered search returns the true top-k over database and uploads (vs brute force)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s5vec.cache import IndexCache
from s5vec.loader import LoaderConfig, VectorLoader
from s5vec.sessions import SessionConfig, SessionHub
from s5vec.storage.memory import FakeMemoryStorage
from tests.sessions.conftest import IndexFactory
from tests.sessions.dbs import Database, User
from tests.sessions.helpers import connect, ended, plain_init, search, upload

TAGS = ("a", "b", "c")
EPS = 1e-5
OWNER = User.new().address

filters = st.one_of(
    st.none(),
    st.sampled_from(TAGS).map(lambda t: {"tag": t}),
    st.sampled_from(TAGS).map(lambda t: {"tag": {"$eq": t}}),
    st.lists(st.sampled_from(TAGS), max_size=3).map(lambda ts: {"tag": {"$in": ts}}),
    st.tuples(st.sampled_from(TAGS), st.sampled_from(("db", "up"))).map(
        lambda p: {"tag": p[0], "src": {"$eq": p[1]}}
    ),
)


def _matches(meta: dict[str, Any], flt: dict[str, Any] | None) -> bool:
    for field, cond in (flt or {}).items():
        allowed = cond["$in"] if isinstance(cond, dict) and "$in" in cond else None
        if allowed is None:
            allowed = [cond["$eq"] if isinstance(cond, dict) else cond]
        if meta.get(field) not in allowed:
            return False
    return True


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    dims=st.integers(2, 6),
    chunk_sizes=st.lists(st.integers(1, 12), max_size=3),
    upload_count=st.integers(0, 12),
    k=st.integers(1, 20),
    threshold=st.one_of(st.none(), st.floats(-1.0, 1.0)),
    flt=filters,
)
async def test_merged_filtered_search_is_the_true_top_k(
    seed: int,
    dims: int,
    chunk_sizes: list[int],
    upload_count: int,
    k: int,
    threshold: float | None,
    flt: dict[str, Any] | None,
) -> None:
    rng = np.random.default_rng(seed)
    chunks = []
    for c, size in enumerate(chunk_sizes):
        ids = [f"db-{c}-{r}" for r in range(size)]
        meta = [{"tag": str(rng.choice(TAGS)), "src": "db"} for _ in range(size)]
        chunks.append((ids, rng.normal(size=(size, dims)), meta))
    db = Database(OWNER, "prop", chunks)
    ups = [
        {
            "id": f"up-{i}",
            "vector": rng.normal(size=dims).tolist(),
            "metadata": {"tag": str(rng.choice(TAGS)), "src": "up"},
        }
        for i in range(upload_count)
    ]
    query = rng.normal(size=dims)

    storage = FakeMemoryStorage(db.files())
    cache: IndexCache[Any, Any] = IndexCache(max_entries=2, max_bytes=1 << 26, ttl_s=60)
    loader = VectorLoader(storage, cache, IndexFactory(), LoaderConfig())
    hub = SessionHub(loader, None, SessionConfig())
    try:
        conn, sent = connect(hub)
        await conn.handle(plain_init("p", db))
        assert (await ended(sent, "p"))["event"] == "loading_complete"
        if ups:
            await conn.handle(upload(ups))
        message = search(query.tolist(), k=k)
        if threshold is not None:
            message["threshold"] = threshold
        if flt is not None:
            message["metadataFilter"] = flt
        await conn.handle(message)
        reply = sent.last
    finally:
        await hub.close()
    assert reply["type"] == "searchVectorsResponse", reply
    assert reply["totalVectors"] == db.vector_count + upload_count

    # Brute force in float64 over both stores.
    everything = [
        (i, v, m) for ids, vs, ms in chunks for i, v, m in zip(ids, vs, ms, strict=True)
    ] + [(u["id"], np.asarray(u["vector"]), u["metadata"]) for u in ups]
    unit_q = query / np.linalg.norm(query)
    truth = {i: float(v @ unit_q / np.linalg.norm(v)) for i, v, _ in everything}
    meta = {i: m for i, _, m in everything}
    floor = -2.0 if threshold is None else threshold
    eligible = sorted(
        (s for i, s in truth.items() if _matches(meta[i], flt) and s >= floor + EPS),
        reverse=True,
    )

    results = reply["results"]
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert len({r["id"] for r in results}) == len(results)
    for hit in results:  # every hit is a real, matching, above-threshold vector
        assert _matches(meta[hit["id"]], flt)
        assert hit["metadata"] == meta[hit["id"]]
        assert abs(hit["score"] - truth[hit["id"]]) < EPS
        assert truth[hit["id"]] >= floor - EPS
    assert len(results) >= min(k, len(eligible))
    assert len(results) <= k
    for got, best in zip(scores, eligible, strict=False):  # nothing better was left out
        assert got >= best - EPS
