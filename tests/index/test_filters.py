"""Metadata filters: parsing, JSON equality, and column masks against record-by-record checks."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s5vec.errors import InvalidMessage
from s5vec.index.filters import MAX_FILTER_DEPTH, MISSING, FilterMatcher, parse_filter

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, 1.0, 2.5]),
    st.sampled_from(["a", "b", "A", ""]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from("xy"), inner),
    max_leaves=4,
)
FIELDS = st.sampled_from(["kind", "page", "tags"])
RECORDS = st.lists(st.dictionaries(FIELDS, VALUES, max_size=3), min_size=1, max_size=40)
CONDITION = st.one_of(
    VALUES.filter(lambda v: not isinstance(v, dict)),
    st.builds(lambda v: {"$eq": v}, VALUES),
    st.builds(lambda vs: {"$in": vs}, st.lists(VALUES, max_size=3)),
)
FILTERS = st.dictionaries(FIELDS, CONDITION, max_size=3)


def json_equal(a: Any, b: Any) -> bool:
    """Reference JSON equality: numbers by value, booleans apart from numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[key], b[key]) for key in a)
    return type(a) is type(b) and a == b


def reference_match(filter_obj: dict[str, Any], record: dict[str, Any]) -> bool:
    """SPEC section 4 semantics written out directly."""
    for field, cond in filter_obj.items():
        if field not in record:
            return False
        value = record[field]
        if isinstance(cond, dict) and "$eq" in cond:
            ok = json_equal(value, cond["$eq"])
        elif isinstance(cond, dict) and "$in" in cond:
            ok = any(json_equal(value, option) for option in cond["$in"])
        else:
            ok = json_equal(value, cond)
        if not ok:
            return False
    return True


def matcher_for(records: list[dict[str, Any]]) -> FilterMatcher:
    return FilterMatcher(len(records), lambda f: (r.get(f, MISSING) for r in records))


@given(RECORDS, FILTERS)
def test_mask_and_matches_agree_with_reference(
    records: list[dict[str, Any]], filter_obj: dict[str, Any]
) -> None:
    flt = parse_filter(filter_obj)
    expected = [reference_match(filter_obj, r) for r in records]
    assert [flt.matches(r) for r in records] == expected
    assert matcher_for(records).mask(flt).tolist() == expected


@settings(max_examples=200)
@given(
    st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner),
        max_leaves=8,
    )
)
def test_parse_never_fails_with_anything_but_invalid_message(obj: Any) -> None:
    with contextlib.suppress(InvalidMessage):
        parse_filter(obj)


def test_bare_value_eq_and_in_are_anded_across_fields() -> None:
    records: list[dict[str, Any]] = [
        {"kind": "doc", "page": 1},
        {"kind": "doc", "page": 2},
        {"kind": "img", "page": 1},
        {"page": 1},
    ]
    flt = parse_filter({"kind": "doc", "page": {"$in": [1, 3]}})
    assert matcher_for(records).mask(flt).tolist() == [True, False, False, False]
    assert parse_filter({"kind": {"$eq": "img"}}).matches(records[2])


def test_numbers_compare_by_value_but_booleans_are_not_numbers() -> None:
    assert parse_filter({"n": 1}).matches({"n": 1.0})
    assert not parse_filter({"n": 1}).matches({"n": True})
    assert not parse_filter({"n": True}).matches({"n": 1})
    assert parse_filter({"n": None}).matches({"n": None})
    assert not parse_filter({"n": None}).matches({})


def test_several_operators_on_one_field_are_anded() -> None:
    flt = parse_filter({"kind": {"$in": ["a", "b"], "$eq": "b"}})
    assert flt.matches({"kind": "b"})
    assert not flt.matches({"kind": "a"})


def test_empty_filter_and_empty_in() -> None:
    assert parse_filter({}).matches({"anything": 1})
    flt = parse_filter({"kind": {"$in": []}})
    assert not flt.matches({"kind": "a"})
    assert not matcher_for([{"kind": "a"}]).mask(flt).any()


def test_object_without_operators_is_a_bare_value() -> None:
    flt = parse_filter({"where": {"x": 1}})
    assert flt.matches({"where": {"x": 1.0}})
    assert not flt.matches({"where": {"x": 1, "y": 2}})


@pytest.mark.parametrize(
    "bad",
    [
        [],
        "kind",
        None,
        {"kind": {"$ne": "a"}},
        {"kind": {"$in": "a"}},
        {"kind": {"$in": {"a": 1}}},
        {"kind": {"$eq": "a", "other": 1}},
        {"kind": {"$eq": {1, 2}}},
        {"": "a"},
        {"kind": {"$in": list(range(2000))}},
    ],
)
def test_malformed_filters_are_invalid_messages(bad: Any) -> None:
    with pytest.raises(InvalidMessage):
        parse_filter(bad)


def test_column_is_built_once_per_field() -> None:
    calls: list[str] = []
    records = [{"kind": str(i % 3)} for i in range(30)]

    def values(field: str) -> Any:
        calls.append(field)
        return (r.get(field, MISSING) for r in records)

    matcher = FilterMatcher(len(records), values)
    for value in ("0", "1", "2"):
        assert int(matcher.mask(parse_filter({"kind": value})).sum()) == 10
    assert calls == ["kind"]
    assert matcher.nbytes() > 0
    assert np.array_equal(matcher.mask(parse_filter({"kind": "9"})), np.zeros(30, bool))


@pytest.mark.parametrize(("distinct", "row_bytes"), [(3, 1), (128, 1), (129, 2), (40_000, 4)])
def test_column_takes_the_narrowest_code_type(distinct: int, row_bytes: int) -> None:
    rows = 2 * distinct
    records = [{"kind": i % distinct} for i in range(rows)] + [{}]
    matcher = matcher_for(records)
    last = distinct - 1
    mask = matcher.mask(parse_filter({"kind": {"$in": [0, last, distinct]}}))
    expected = [r.get("kind") in (0, last) for r in records]
    assert np.array_equal(mask, np.asarray(expected))
    # One code per row plus the vocabulary estimate (100 bytes per value).
    assert matcher.nbytes() == row_bytes * len(records) + 100 * distinct


def test_a_filter_nested_past_the_metadata_bound_is_invalid() -> None:
    value: Any = "leaf"
    for _ in range(MAX_FILTER_DEPTH - 2):  # inside the filter object and the operator object
        value = [value]
    assert parse_filter({"tag": {"$eq": value}}) is not None
    with pytest.raises(InvalidMessage, match=f"more than {MAX_FILTER_DEPTH} levels"):
        parse_filter({"tag": {"$eq": [value]}})
