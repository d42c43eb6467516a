"""Query validation and the merged search over database and uploads."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s5vec.errors import InvalidMessage
from s5vec.index import IndexConfig, UploadedVectors, merged_search, parse_filter, validate_query
from tests.index.helpers import brute_force, build, ids_for, same_hits


@pytest.mark.parametrize("k", [1, 100])
def test_k_bounds_are_inclusive(k: int) -> None:
    unit = validate_query([3, 4], 2, k, None)
    assert unit.dtype == np.float32
    assert unit.tolist() == pytest.approx([0.6, 0.8])


@pytest.mark.parametrize(
    ("query", "k", "threshold"),
    [
        ([1, 0], 0, None),
        ([1, 0], 101, None),
        ([1, 0], True, None),
        ([1, 0], 5.0, None),
        ([1, 0], "5", None),
        ([1, 0], 5, 1.5),
        ([1, 0], 5, -1.01),
        ([1, 0], 5, True),
        ([1, 0], 5, "0.5"),
        ([1, 0], 5, float("nan")),
        ([1, 0, 0], 5, None),
        ([1], 5, None),
        ([1, float("nan")], 5, None),
        ([1, float("inf")], 5, None),
        ([0, 0], 5, None),
        ([True, False], 5, None),
        (["1", "0"], 5, None),
        ("1,0", 5, None),
        (None, 5, None),
        ([1, 10**400], 5, None),
    ],
)
def test_invalid_queries_are_invalid_messages(query: Any, k: Any, threshold: Any) -> None:
    with pytest.raises(InvalidMessage):
        validate_query(query, 2, k, threshold)


def test_thresholds_at_the_bounds_and_huge_components_are_fine() -> None:
    for threshold in (-1, 1, 0, 0.25, None):
        validate_query([1, 0], 2, 5, threshold)
    assert validate_query([1e300, 1e300], 2, 5, None).tolist() == pytest.approx([2**-0.5] * 2)


# f32 scans exactly, so with only 4k candidates (rescore_candidates=1) a filter applied after
# choosing candidates would come back short. Quantised storage scans codes, exact only when
# every row is a candidate: up to 64 rows, re-scored from the spill file.
STORAGES = st.sampled_from([("f32", 1, 250), ("i8", 64, 64), ("f16", 64, 64)])


@settings(max_examples=60, deadline=None)
@given(
    storage=STORAGES,
    db_fraction=st.floats(0, 1),
    up_rows=st.integers(0, 30),
    seed=st.integers(0, 2**16),
    k=st.integers(1, 12),
    threshold=st.none() | st.floats(-1, 1),
    filter_obj=st.none()
    | st.dictionaries(
        st.sampled_from(["colour", "size"]),
        st.sampled_from(["red", "blue", 1, 2, 2.0, True])
        | st.builds(lambda vs: {"$in": vs}, st.lists(st.sampled_from(["red", 1, False]))),
        max_size=2,
    ),
)
def test_merged_filtered_search_is_the_true_top_k_of_the_union(
    storage: tuple[Any, int, int],
    db_fraction: float,
    up_rows: int,
    seed: int,
    k: int,
    threshold: float | None,
    filter_obj: dict[str, Any] | None,
) -> None:
    quantization, rescore_candidates, max_rows = storage
    db_rows = max(1, round(db_fraction * max_rows))
    rng = np.random.default_rng(seed)
    d = 6
    vectors = rng.standard_normal((db_rows + up_rows, d)).astype(np.float32)
    palette: list[Any] = ["red", "blue", 1, 2, True, False]
    metadata = [
        {"colour": palette[rng.integers(6)], "size": palette[rng.integers(6)]}
        for _ in range(len(vectors))
    ]
    for m in metadata[::5]:
        del m["size"]  # some records lack a field
    ids = ids_for(len(vectors))
    flt = None if filter_obj is None else parse_filter(filter_obj)
    query = rng.standard_normal(d).astype(np.float32)
    with tempfile.TemporaryDirectory() as spill:
        config = IndexConfig(
            quantization=quantization,
            spill_dir=Path(spill),
            graph_threshold=10**9,
            rescore_candidates=rescore_candidates,
        )
        database = build(vectors[:db_rows], config, metadata[:db_rows], chunk=7)
        uploads = UploadedVectors(max_vectors=100)
        uploads.add(
            [
                {"id": ids[i], "vector": vectors[i].tolist(), "metadata": metadata[i]}
                for i in range(db_rows, len(vectors))
            ]
        )
        got = merged_search([database, uploads], query, k, threshold, flt)
        database.close()
    want = brute_force(vectors, ids, metadata, query, k, threshold, flt)
    # Scores within float32 rounding of the threshold may fall either way.
    if threshold is not None:
        want = [(i, s) for i, s in want if s >= threshold + 1e-5]
        got = [h for h in got if h.score >= threshold + 1e-5]
    assert same_hits(got, want[: len(got)])
    assert len(got) == len(want) or len(got) == k


def test_merged_search_orders_by_score_across_sources() -> None:
    config = IndexConfig(quantization="f32", graph_threshold=10**9)
    database = build(np.array([[1, 0], [0, 1]], np.float32), config)
    uploads = UploadedVectors(max_vectors=10)
    uploads.add([{"id": "up", "vector": [1, 0.1]}])
    hits = merged_search([database, uploads], np.array([1, 0], np.float32), 2, None, None)
    assert [h.id for h in hits] == ["v0", "up"]
    assert (
        merged_search([UploadedVectors(max_vectors=1)], np.ones(2, np.float32), 3, None, None) == []
    )
    database.close()
