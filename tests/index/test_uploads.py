"""UploadedVectors: validation outcomes, replace semantics, the cap, exact search."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from s5vec.errors import InvalidMessage, MemoryLimitExceeded
from s5vec.formats.metadata import MAX_METADATA_DEPTH
from s5vec.index import UploadedVectors, parse_filter


def rec(rid: Any, vector: Any, metadata: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": rid, "vector": vector}
    if metadata is not None:
        out["metadata"] = metadata
    return out


def test_valid_upload_succeeds_and_is_searchable() -> None:
    store = UploadedVectors(max_vectors=10)
    result = store.add([rec("a", [1, 0]), rec("b", [0, 1], {"k": "x"})])
    assert (result.status, result.uploaded, result.rejected, result.errors) == (
        "success",
        2,
        0,
        [],
    )
    hits = store.search(np.array([0, 1], np.float32), 2)
    assert [(h.id, round(h.score, 6), h.metadata) for h in hits] == [
        ("b", 1.0, {"k": "x"}),
        ("a", 0.0, {}),
    ]
    assert store.dimensions == 2
    assert len(store) == 2


def test_each_bad_record_is_rejected_alone_with_a_wire_entry() -> None:
    store = UploadedVectors(max_vectors=10)
    records = [
        rec("ok", [1, 2, 3]),
        {"vector": [1, 2, 3]},
        rec("", [1, 2, 3]),
        rec("nan", [1, float("nan"), 3]),
        rec("inf", [1, float("inf"), 3]),
        rec("short", [1, 2]),
        rec("big", [1, 2, 3], {"text": "x" * 11_000}),
        rec("meta", [1, 2, 3], ["not", "an", "object"]),
        rec("zero", [0, 0, 0]),
        rec("words", ["a", "b", "c"]),
        rec("bools", [True, False, True]),
        "not a record",
    ]
    result = store.add(records)
    assert result.status == "partial"
    assert (result.uploaded, result.rejected) == (1, 11)
    codes = {e["index"]: (e["id"], e["code"]) for e in result.errors}
    assert codes == {
        1: (None, "INVALID_VECTOR"),
        2: ("", "INVALID_VECTOR"),
        3: ("nan", "INVALID_VECTOR"),
        4: ("inf", "INVALID_VECTOR"),
        5: ("short", "DIMENSION_MISMATCH"),
        6: ("big", "INVALID_VECTOR"),
        7: ("meta", "INVALID_VECTOR"),
        8: ("zero", "INVALID_VECTOR"),
        9: ("words", "INVALID_VECTOR"),
        10: ("bools", "INVALID_VECTOR"),
        11: (None, "INVALID_VECTOR"),
    }
    assert all(set(e) == {"index", "id", "code", "message"} for e in result.errors)
    assert len(store) == 1


def test_metadata_up_to_10_kb_is_accepted() -> None:
    store = UploadedVectors(max_vectors=10)
    text = "x" * (10 * 1024 - len('{"t":""}'))
    assert store.add([rec("a", [1.0], {"t": text})]).status == "success"
    assert store.add([rec("b", [1.0], {"t": text + "x"})]).status == "error"


def test_first_vector_fixes_the_dimension_unless_the_database_did() -> None:
    store = UploadedVectors(max_vectors=10)
    result = store.add([rec("a", [1, 2]), rec("b", [1, 2, 3])])
    assert [e["code"] for e in result.errors] == ["DIMENSION_MISMATCH"]
    assert store.add([rec("c", [1, 2, 3])]).errors[0]["code"] == "DIMENSION_MISMATCH"
    pinned = UploadedVectors(max_vectors=10, dimensions=3)
    assert pinned.add([rec("a", [1, 2])]).status == "error"
    assert pinned.add([rec("a", [1, 2, 3])]).status == "success"


def test_duplicate_id_replaces_vector_and_metadata() -> None:
    store = UploadedVectors(max_vectors=10)
    store.add([rec("a", [1, 0], {"v": 1}), rec("b", [0, 1])])
    store.add([rec("a", [0, 1], {"v": 2})])
    assert len(store) == 2
    hits = store.search(np.array([0, 1], np.float32), 2)
    assert {h.id: (round(h.score, 6), h.metadata) for h in hits} == {
        "a": (1.0, {"v": 2}),
        "b": (1.0, {}),
    }
    # Within one batch the later record wins.
    store.add([rec("c", [1, 0], {"v": 1}), rec("c", [1, 0], {"v": 3})])
    assert store.search(np.array([1, 0], np.float32), 1)[0].metadata == {"v": 3}


def test_replace_clears_first_and_may_change_the_dimension() -> None:
    store = UploadedVectors(max_vectors=10)
    store.add([rec("a", [1, 0]), rec("b", [0, 1])])
    result = store.add([rec("c", [1, 2, 3])], replace=True)
    assert result.status == "success"
    assert len(store) == 1
    assert store.dimensions == 3
    store.clear()
    assert len(store) == 0
    assert store.dimensions is None


def test_cap_refuses_the_whole_batch_and_changes_nothing() -> None:
    store = UploadedVectors(max_vectors=3)
    store.add([rec("a", [1.0]), rec("b", [2.0])])
    with pytest.raises(MemoryLimitExceeded):
        store.add([rec("c", [1.0]), rec("d", [1.0])])
    assert len(store) == 2
    # Replacements do not grow the store, so they fit.
    assert store.add([rec("a", [3.0]), rec("b", [3.0]), rec("c", [3.0])]).uploaded == 3
    with pytest.raises(MemoryLimitExceeded):
        store.add([rec(f"n{i}", [1.0]) for i in range(4)], replace=True)
    assert len(store) == 3
    assert store.add([rec(f"n{i}", [1.0]) for i in range(3)], replace=True).uploaded == 3


def test_search_filters_threshold_and_k() -> None:
    store = UploadedVectors(max_vectors=100)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, 8))
    store.add([rec(f"u{i}", v.tolist(), {"odd": i % 2 == 1}) for i, v in enumerate(vectors)])
    query = vectors[3].astype(np.float32)
    odd = parse_filter({"odd": True})
    hits = store.search(query, 5, None, odd)
    assert hits[0].id == "u3"
    assert len(hits) == 5
    assert all(h.metadata["odd"] for h in hits)
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    assert all(h.score >= 0.3 for h in store.search(query, 50, 0.3))
    assert store.search(query, 5, None, parse_filter({"odd": "yes"})) == []
    # A later upload invalidates the filter columns.
    store.add([rec("late", vectors[3].tolist(), {"odd": "yes"})])
    assert [h.id for h in store.search(query, 5, None, parse_filter({"odd": "yes"}))] == ["late"]


def test_search_validates_the_query_against_the_store() -> None:
    store = UploadedVectors(max_vectors=10)
    assert store.search(np.ones(3, np.float32), 1) == []  # empty: nothing to compare
    store.add([rec("a", [1, 2, 3])])
    with pytest.raises(InvalidMessage):
        store.search(np.ones(2, np.float32), 1)
    with pytest.raises(InvalidMessage):
        store.search(np.zeros(3, np.float32), 1)


def test_returned_metadata_is_a_copy() -> None:
    store = UploadedVectors(max_vectors=10)
    original = {"k": 1}
    store.add([rec("a", [1.0], original)])
    original["k"] = 2
    hit = store.search(np.ones(1, np.float32), 1)[0]
    hit.metadata["k"] = 3
    assert store.search(np.ones(1, np.float32), 1)[0].metadata == {"k": 1}
    assert store.memory_bytes() > 0


def _nested(levels: int) -> Any:
    """Metadata nesting ``levels`` objects and arrays deep (the outer object included)."""
    value: Any = "leaf"
    for level in range(levels - 1):
        value = [value] if level % 2 else {"k": value}
    return {"deep": value}


def test_metadata_nested_past_the_reply_bound_is_rejected() -> None:
    store = UploadedVectors(max_vectors=10)
    result = store.add(
        [rec("ok", [1.0], _nested(MAX_METADATA_DEPTH)), rec("deep", [1.0], _nested(201))]
    )
    assert (result.uploaded, result.rejected) == (1, 1)
    assert result.errors[0]["code"] == "INVALID_VECTOR"
    assert f"more than {MAX_METADATA_DEPTH} levels" in result.errors[0]["message"]
