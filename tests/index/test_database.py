"""DatabaseIndex: loading, exact and graph search, filters, lifecycle."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from s5vec.errors import (
    Cancelled,
    ChunkParseError,
    DimensionMismatch,
    IndexBuildFailed,
    InternalError,
    InvalidMessage,
    InvalidVector,
    VectorsLoading,
    VectorsNotLoaded,
)
from s5vec.index import DatabaseIndex, IndexConfig, parse_filter
from s5vec.index.store import StoreBuilder
from tests.index.helpers import (
    brute_force,
    build,
    clustered,
    exact_ids,
    ids_for,
    near,
    random_vectors,
    recall,
    same_hits,
)

EXACT = IndexConfig(graph_threshold=10**9)
EXACT_F32 = IndexConfig(quantization="f32", graph_threshold=10**9)
GRAPH = IndexConfig(graph_threshold=1000)


def spilled_files(directory: Path) -> list[str]:
    """Open descriptors of this process pointing into ``directory`` (deleted files too)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)):
            found.append(target)
    return found


@pytest.mark.parametrize("data", ["clustered", "random"])
def test_graph_recall_at_10_is_at_least_095(data: str) -> None:
    vectors = clustered(10_000, 64) if data == "clustered" else random_vectors(10_000, 64)
    queries = near(vectors, 100)
    index = build(vectors, GRAPH, chunk=2500)
    try:
        assert index.wait_for_graph(timeout=120)
        assert index.graph_error is None
        assert recall(index, queries, exact_ids(vectors, queries)) >= 0.95
    finally:
        index.close()


@pytest.mark.parametrize("quantization", ["f32", "f16", "i8"])
def test_exact_path_recall_for_every_storage(quantization: Any, tmp_path: Path) -> None:
    vectors = clustered(3000, 48, seed=4)
    queries = near(vectors, 50, seed=5)
    for spill in (None, tmp_path):
        config = IndexConfig(quantization=quantization, spill_dir=spill, graph_threshold=10**9)
        index = build(vectors, config)
        assert recall(index, queries, exact_ids(vectors, queries)) >= 0.95
        index.close()


def test_search_before_and_after_graph_swap_agree_on_easy_data(tmp_path: Path) -> None:
    vectors = clustered(5000, 32, seed=2)
    queries = vectors[:20] + 0.01  # almost exactly data points: one obvious nearest neighbour
    index = build(vectors, IndexConfig(graph_threshold=1000, spill_dir=tmp_path))
    try:
        before = [index.search(q, 5)[0] for q in queries]
        assert index.wait_for_graph(timeout=120)
        after = [index.search(q, 5)[0] for q in queries]
        assert [h.id for h in before] == [h.id for h in after] == ids_for(20)
        # Both paths re-score from the same full-precision copy: identical scores.
        assert [h.score for h in before] == [h.score for h in after]
    finally:
        index.close()


def test_graph_is_built_only_above_the_threshold() -> None:
    small = build(clustered(500, 16), IndexConfig(graph_threshold=1000))
    assert not small.wait_for_graph(timeout=5)
    small.close()


def test_graph_build_callback_reports_once() -> None:
    calls: list[tuple[bool, BaseException | None, float]] = []
    done = threading.Event()

    def on_built(graph: Any, error: BaseException | None, seconds: float) -> None:
        calls.append((graph is not None, error, seconds))
        done.set()

    index = DatabaseIndex(None, IndexConfig(graph_threshold=100), on_graph_built=on_built)
    index.add_chunk(ids_for(300), clustered(300, 8), [{}] * 300)
    index.finish()
    assert done.wait(60)
    assert index.wait_for_graph(60)
    assert len(calls) == 1
    assert calls[0][0]
    assert calls[0][1] is None
    assert calls[0][2] >= 0
    assert index.graph_build_seconds is not None
    index.close()


def test_filter_matching_few_rows_returns_the_true_top_k(tmp_path: Path) -> None:
    vectors = clustered(8000, 32, seed=3)
    metadata = [{"group": i % 400, "even": i % 2 == 0} for i in range(len(vectors))]
    queries = near(vectors, 10, seed=9)
    ids = ids_for(len(vectors))
    index = build(vectors, IndexConfig(graph_threshold=1000, spill_dir=tmp_path), metadata)
    narrow = [parse_filter({"group": 7}), parse_filter({"group": {"$in": [1, 2, 3]}})]
    broad = parse_filter({"even": True})
    try:
        for ready in (False, True):
            if ready:
                assert index.wait_for_graph(timeout=120)
            for q in queries:
                for flt in narrow:  # 20 and 60 matching rows: every one is re-scored exactly
                    got = index.search(q, 10, None, flt)
                    assert same_hits(got, brute_force(vectors, ids, metadata, q, 10, None, flt))
                got = index.search(q, 10, None, broad)
                want = brute_force(vectors, ids, metadata, q, 10, None, broad)
                assert len(got) == 10
                assert all(broad.matches(h.metadata) for h in got)
                assert len({h.id for h in got} & {i for i, _ in want}) >= 9
    finally:
        index.close()


def test_threshold_keeps_only_scores_at_or_above_it() -> None:
    vectors = random_vectors(2000, 16, seed=6)
    index = build(vectors, EXACT_F32)
    ids = ids_for(len(vectors))
    meta: list[dict[str, Any]] = [{}] * len(vectors)
    query = vectors[0]
    for threshold in (0.0, 0.5, 0.9, 1.0):
        got = [h.id for h in index.search(query, 100, threshold)]
        assert all(h.score >= threshold for h in index.search(query, 100, threshold))
        want = brute_force(vectors, ids, meta, query, 100)
        surely = [i for i, score in want if score >= threshold + 1e-5]
        maybe = [i for i, score in want if score >= threshold - 1e-5]
        assert got[: len(surely)] == surely
        assert set(got) <= set(maybe)
    assert index.search(-query, 5, 0.99) == []
    index.close()


def test_scores_are_cosines_highest_first_with_metadata_and_ids() -> None:
    vectors = np.array([[1, 0], [0, 1], [1, 1], [-1, 0]], dtype=np.float32)
    index = DatabaseIndex(2, EXACT)
    index.add_chunk(["a", "b", "c", "d"], vectors, [{"n": 1}, {"n": 2}, {"n": 3}, {}])
    index.finish()
    hits = index.search(np.array([2, 0], np.float32), 4)
    assert [h.id for h in hits] == ["a", "c", "b", "d"]
    assert [round(h.score, 5) for h in hits] == [1.0, round(2**-0.5, 5), 0.0, -1.0]
    assert hits[0].metadata == {"n": 1}
    assert len(index) == 4
    assert index.dimensions == 2
    index.close()


def test_k_larger_than_the_database_returns_every_vector() -> None:
    index = build(random_vectors(7, 4), EXACT)
    assert len(index.search(np.ones(4, np.float32), 100)) == 7
    index.close()


def test_duplicate_ids_are_chunk_parse_errors() -> None:
    index = DatabaseIndex(4, EXACT)
    with pytest.raises(ChunkParseError):
        index.add_chunk(["a", "a"], random_vectors(2, 4), [{}, {}])
    index.add_chunk(["a", "b"], random_vectors(2, 4), [{}, {}])
    index.add_chunk(["c"], random_vectors(1, 4), [{}])
    with pytest.raises(ChunkParseError):
        index.add_chunk(["d", "b"], random_vectors(2, 4), [{}, {}])
    index.close()


def test_many_chunks_keep_every_id_unique_and_findable() -> None:
    vectors = random_vectors(3000, 8, seed=8)
    index = build(vectors, EXACT, chunk=97)
    with pytest.raises(InternalError):
        index.add_chunk(["late"], vectors[:1], [{}])  # finished: nothing more may be added
    assert len(index) == 3000
    for row in (0, 96, 97, 1500, 2999):
        assert index.search(vectors[row], 1)[0].id == f"v{row}"
    index.close()


@pytest.mark.parametrize(
    ("declared", "chunks"),
    [(4, [5]), (None, [4, 5]), (None, [0]), (None, [4097])],
)
def test_dimension_mismatch(declared: int | None, chunks: list[int]) -> None:
    index = DatabaseIndex(declared, EXACT)
    *accepted, rejected = chunks
    for n, d in enumerate(accepted):
        index.add_chunk([f"x{n}"], np.ones((1, d), np.float32), [{}])
    with pytest.raises(DimensionMismatch):
        index.add_chunk(["last"], np.ones((1, rejected), np.float32), [{}])
    index.close()


def test_declared_dimension_outside_range_is_rejected() -> None:
    with pytest.raises(DimensionMismatch):
        DatabaseIndex(0, EXACT)


def test_bad_chunks_are_rejected() -> None:
    index = DatabaseIndex(2, EXACT)
    with pytest.raises(InvalidVector):
        index.add_chunk(["a"], np.array([[np.nan, 1]], np.float32), [{}])
    with pytest.raises(ChunkParseError):
        index.add_chunk(["a", "b"], np.ones((1, 2), np.float32), [{}])
    with pytest.raises(ChunkParseError):
        index.add_chunk(["a"], np.ones((1, 2), np.float32), ["not a dict"])  # type: ignore[list-item]
    with pytest.raises(ChunkParseError):
        index.add_chunk([7], np.ones((1, 2), np.float32), [{}])  # type: ignore[list-item]
    with pytest.raises(ChunkParseError):
        index.add_chunk(["a"], np.ones((1, 2), np.float32), [{"b": b"bytes"}])
    index.close()


def test_queries_of_wrong_dimension_or_zero_length_are_invalid() -> None:
    index = build(random_vectors(10, 4), EXACT)
    with pytest.raises(InvalidMessage):
        index.search(np.ones(5, np.float32), 3)
    with pytest.raises(InvalidMessage):
        index.search(np.zeros(4, np.float32), 3)
    with pytest.raises(InvalidMessage):
        index.search(np.array([1, np.inf, 0, 0], np.float32), 3)
    index.close()


def test_lifecycle_errors() -> None:
    index = DatabaseIndex(None, EXACT)
    with pytest.raises(VectorsLoading):
        index.search(np.ones(3, np.float32), 1)
    index.finish()
    assert index.search(np.ones(3, np.float32), 1) == []  # an empty database
    index.close()
    index.close()  # idempotent
    with pytest.raises(VectorsNotLoaded):
        index.search(np.ones(3, np.float32), 1)
    with pytest.raises(Cancelled):
        index.add_chunk(["a"], np.ones((1, 3), np.float32), [{}])
    with pytest.raises(Cancelled):
        index.finish()


def test_close_deletes_the_spill_file_and_frees_memory(tmp_path: Path) -> None:
    index = DatabaseIndex(None, IndexConfig(spill_dir=tmp_path, graph_threshold=10**9))
    index.add_chunk(ids_for(100), random_vectors(100, 16), [{}] * 100)
    assert len(spilled_files(tmp_path)) == 1  # unlinked at once: never left behind on a crash
    assert list(tmp_path.iterdir()) == []
    index.finish()
    assert index.memory_bytes() >= 100 * 16
    index.close()
    assert spilled_files(tmp_path) == []
    assert index.memory_bytes() == 0
    assert len(index) == 0


def test_close_during_a_graph_build_stops_it() -> None:
    index = build(clustered(20_000, 64, seed=11), IndexConfig(graph_threshold=1000), chunk=5000)
    index.close()  # interrupts the build rather than waiting for it
    assert not index.graph_ready
    assert not any(t.name == "s5vec-graph-build" and t.is_alive() for t in threading.enumerate())


def test_close_while_loading_discards_the_spill(tmp_path: Path) -> None:
    index = DatabaseIndex(None, IndexConfig(spill_dir=tmp_path))
    index.add_chunk(ids_for(10), random_vectors(10, 4), [{}] * 10)
    index.close()
    assert spilled_files(tmp_path) == []


def test_memory_estimate_counts_the_graph() -> None:
    index = build(clustered(2000, 16), IndexConfig(graph_threshold=1000))
    before = index.memory_bytes()
    assert index.wait_for_graph(60)
    assert index.memory_bytes() > before
    index.close()


def test_loading_from_another_thread() -> None:
    vectors = random_vectors(4000, 8, seed=12)
    index = DatabaseIndex(None, EXACT)

    def load() -> None:
        for start in range(0, 4000, 500):
            chunk = vectors[start : start + 500]
            index.add_chunk(ids_for(500, start), chunk, [{"s": start}] * 500)

    worker = threading.Thread(target=load)
    worker.start()
    worker.join()
    index.finish()
    hit = index.search(vectors[1234], 1)[0]
    assert (hit.id, hit.metadata) == ("v1234", {"s": 1000})
    index.close()


def test_concurrent_searches_agree_with_sequential_ones() -> None:
    vectors = clustered(4000, 32, seed=13)
    queries = near(vectors, 64, seed=14)
    index = build(vectors, GRAPH)
    try:
        assert index.wait_for_graph(timeout=120)
        flt = parse_filter({"none": {"$in": []}})
        expected = [[h.id for h in index.search(q, 10)] for q in queries]
        results: dict[int, list[str]] = {}

        def worker(offset: int) -> None:
            for i in range(offset, len(queries), 4):
                results[i] = [h.id for h in index.search(queries[i], 10)]
                assert index.search(queries[i], 10, None, flt) == []

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [results[i] for i in range(len(queries))] == expected
    finally:
        index.close()


def test_huge_finite_components_still_normalise_to_the_right_cosine() -> None:
    index = DatabaseIndex(4, IndexConfig(quantization="f32"))
    index.add_chunk(["big"], np.array([[1.1, 0.3, 3e38, 0.1]], dtype=np.float32), [{}])
    index.finish()
    hits = index.search(np.array([1.0, 1.0, 1.0, 1.0], dtype=np.float32), 1)
    assert hits[0].score == pytest.approx(0.5, abs=1e-3)
    index.close()


def test_broad_filter_after_the_graph_is_in_returns_the_exact_top_k() -> None:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((3000, 16)).astype(np.float32)
    groups = rng.integers(0, 5, size=3000)
    metadata: list[dict[str, Any]] = [{"g": int(g)} for g in groups]
    index = DatabaseIndex(16, IndexConfig(quantization="f32", graph_threshold=500))
    index.add_chunk([str(i) for i in range(3000)], vectors, metadata)
    index.finish()
    assert index.wait_for_graph(timeout=60)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    keep = groups != 0  # about 80% of rows match
    for q in rng.standard_normal((20, 16)).astype(np.float32):
        hits = index.search(q, 10, flt=parse_filter({"g": {"$in": [1, 2, 3, 4]}}))
        scores = unit @ (q / np.linalg.norm(q))
        rows = np.flatnonzero(keep)
        expected = rows[np.argsort(-scores[rows])[:10]]
        assert [h.id for h in hits] == [str(i) for i in expected]
    index.close()


def test_concurrent_add_chunk_keeps_ids_vectors_and_metadata_aligned(tmp_path: Path) -> None:
    chunks, rows, width = 24, 300, 16
    vectors = random_vectors(chunks * rows, width, seed=21)
    index = DatabaseIndex(None, IndexConfig(spill_dir=tmp_path, graph_threshold=10**9))
    start = threading.Barrier(4)

    def add(worker: int) -> None:
        start.wait()  # every thread adds at once: the unlocked packing phases overlap
        for c in range(worker, chunks, 4):
            block = vectors[c * rows : (c + 1) * rows]
            meta = [{"chunk": c, "row": r} for r in range(rows)]
            index.add_chunk(ids_for(rows, c * rows), block, meta)

    with ThreadPoolExecutor(4) as pool:
        for done in [pool.submit(add, worker) for worker in range(4)]:
            done.result()
    index.finish()
    try:
        assert len(index) == chunks * rows
        for row in range(chunks * rows):
            hit = index.search(vectors[row], 1)[0]
            assert hit.id == f"v{row}"
            assert hit.score == pytest.approx(1.0, abs=1e-5)
            assert hit.metadata == {"chunk": row // rows, "row": row % rows}
    finally:
        index.close()


def test_concurrent_chunks_sharing_an_id_admit_exactly_one() -> None:
    vectors = random_vectors(200, 8, seed=22)
    chunks = [(ids_for(100), vectors[:100]), (ids_for(100, 99), vectors[100:])]  # share "v99"
    index = DatabaseIndex(None, EXACT_F32)
    start = threading.Barrier(2)

    def add(n: int) -> BaseException | None:
        ids, block = chunks[n]
        start.wait()
        try:
            index.add_chunk(ids, block, [{"chunk": n}] * len(ids))
        except ChunkParseError as exc:
            return exc
        return None

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(add, range(2)))
    failed = [n for n, error in enumerate(outcomes) if error is not None]
    assert len(failed) == 1
    assert "across chunks" in str(outcomes[failed[0]])
    kept = 1 - failed[0]
    ids, block = chunks[kept]
    index.finish()
    try:
        assert len(index) == 100
        for row, ident in enumerate(ids):
            hit = index.search(block[row], 1)[0]
            assert (hit.id, hit.metadata) == (ident, {"chunk": kept})
            assert hit.score == pytest.approx(1.0, abs=1e-5)
    finally:
        index.close()


def test_a_chunk_whose_vectors_cannot_be_stored_fails_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = DatabaseIndex(None, IndexConfig(spill_dir=tmp_path, graph_threshold=10**9))
    index.add_chunk(ids_for(10), random_vectors(10, 4), [{}] * 10)
    real_append = StoreBuilder.append
    calls: list[int] = []

    def disk_full_on_the_second_block(self: StoreBuilder, unit: Any, codes: Any) -> None:
        calls.append(len(unit))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_append(self, unit, codes)

    monkeypatch.setattr(StoreBuilder, "append", disk_full_on_the_second_block)
    rows = 2048 + 10  # two blocks of the index's conversion step
    ids = [f"b{i}" for i in range(rows)]
    with pytest.raises(IndexBuildFailed, match="Could not write"):
        index.add_chunk(ids, random_vectors(rows, 4), [{}] * rows)
    # Records of that chunk went in, its vectors only partly: nothing more may use the index.
    with pytest.raises(IndexBuildFailed, match="earlier chunk"):
        index.add_chunk(["c0"], random_vectors(1, 4), [{}])
    with pytest.raises(IndexBuildFailed, match="earlier chunk"):
        index.finish()
    index.close()
    assert spilled_files(tmp_path) == []
