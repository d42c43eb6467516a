"""VectorStore exact scans: the true top rows by the cosine of the stored codes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from s5vec.index.store import StoreBuilder, VectorStore, normalise, quantise
from tests.index.helpers import clustered, near


def _store(vectors: Any, quantization: Any) -> VectorStore:
    builder = StoreBuilder(vectors.shape[1], quantization, None, threads=1)
    unit = normalise(vectors)
    builder.append(unit, quantise(unit, quantization))
    return builder.finish()


def _code_cosines(store: VectorStore, query: Any) -> Any:
    """Reference: cosine of the query's code with every stored code, in float64."""
    codes = store.ram.astype(np.float64)
    encoded = store.encode(query).astype(np.float64)
    norms = np.linalg.norm(codes, axis=1) * np.linalg.norm(encoded)
    return codes @ encoded / np.maximum(norms, 1e-300)


@pytest.mark.parametrize("quantization", ["f32", "f16", "i8"])
def test_scan_returns_the_rows_with_the_highest_code_cosine(quantization: Any) -> None:
    vectors = clustered(3000, 48, seed=3)
    store = _store(vectors, quantization)
    for query in normalise(near(vectors, 5, seed=4)):
        found = store.scan(query, 20)
        expected = np.argsort(-_code_cosines(store, query), kind="stable")[:20]
        assert set(found.tolist()) == set(expected.tolist())


@pytest.mark.parametrize("quantization", ["f16", "i8"])
def test_scan_of_a_row_subset_spanning_several_blocks_is_its_true_top(quantization: Any) -> None:
    vectors = clustered(20_000, 8, seed=5)
    store = _store(vectors, quantization)
    rows = np.flatnonzero(np.random.default_rng(6).random(len(vectors)) < 0.6).astype(np.int64)
    query = normalise(near(vectors, 1, seed=7))[0]
    found = store.scan(query, 15, rows)
    cosines = _code_cosines(store, query)[rows]
    expected = rows[np.argsort(-cosines, kind="stable")[:15]]
    assert set(found.tolist()) == set(expected.tolist())
    assert set(found.tolist()) <= set(rows.tolist())


def test_scan_asking_for_more_rows_than_stored_returns_every_row() -> None:
    store = _store(clustered(7, 16, seed=8), "i8")
    query = normalise(clustered(1, 16, seed=9))[0]
    assert sorted(store.scan(query, 50).tolist()) == list(range(7))


def test_zero_rows_score_zero_and_rank_below_similar_rows() -> None:
    vectors = np.zeros((4, 8), dtype=np.float32)
    vectors[1] = 1.0
    vectors[3] = -1.0
    store = _store(vectors, "i8")
    query = normalise(np.ones((1, 8), dtype=np.float32))[0]
    assert store.scan(query, 1).tolist() == [1]
    assert set(store.scan(query, 3).tolist()) == {0, 1, 2}
