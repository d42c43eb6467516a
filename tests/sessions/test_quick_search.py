"""Which searches run on the event loop and which go to a worker thread (``is_quick``)."""

from __future__ import annotations

import numpy as np

from s5vec.index import DatabaseIndex, IndexConfig, Searchable, UploadedVectors, parse_filter
from s5vec.sessions.vectors import QUICK_SEARCH_K, QUICK_SEARCH_ROWS, is_quick


def _uploads(count: int, dims: int = 4) -> UploadedVectors:
    store = UploadedVectors(max_vectors=100_000)
    vectors = np.random.default_rng(count).standard_normal((count, dims)).tolist()
    result = store.add([{"id": f"u{i}", "vector": v} for i, v in enumerate(vectors)])
    assert result.uploaded == count
    return store


def _database(rows: int, graph_threshold: int) -> DatabaseIndex:
    index = DatabaseIndex(8, IndexConfig(quantization="f32", graph_threshold=graph_threshold))
    vectors = np.random.default_rng(rows).standard_normal((rows, 8)).astype(np.float32)
    index.add_chunk([f"v{i}" for i in range(rows)], vectors, [{} for _ in range(rows)])
    index.finish()
    return index


def test_small_unfiltered_searches_are_quick() -> None:
    sources: list[Searchable] = [_uploads(10), _database(QUICK_SEARCH_ROWS, 10**9)]
    assert is_quick(sources, 10, None)
    assert is_quick(sources, QUICK_SEARCH_K, None)


def test_filtered_or_large_k_searches_go_to_a_worker() -> None:
    sources: list[Searchable] = [_uploads(10)]
    assert not is_quick(sources, 10, parse_filter({"n": {"$eq": 1}}))
    assert not is_quick(sources, QUICK_SEARCH_K + 1, None)


def test_a_large_source_is_quick_only_when_it_is_a_database_with_its_graph() -> None:
    rows = QUICK_SEARCH_ROWS + 1
    assert not is_quick([_uploads(rows)], 10, None)
    assert not is_quick([_database(rows, 10**9)], 10, None)
    with_graph = _database(rows, 2)
    assert with_graph.wait_for_graph(timeout=120)
    assert is_quick([with_graph], 10, None)
    assert not is_quick([with_graph, _uploads(rows)], 10, None)
