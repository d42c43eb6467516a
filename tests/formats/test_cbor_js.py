"""The s5.js-compatible CBOR writer follows cbor-x's rules for numbers and objects."""

from __future__ import annotations

import math

import cbor2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from s5vec.formats.cbor_js import dumps_nested, dumps_top, vector_items


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0.0, "00"),
        (-0.0, "00"),
        (23.0, "17"),
        (24, "1818"),
        (4294967295.0, "1affffffff"),
        (4294967296.0, "fb41f0000000000000"),
        (-1.0, "20"),
        (-2147483649.0, "3a80000000"),
        (-4294967296.0, "3affffffff"),
        (-4294967297.0, "fbc1f0000000100000"),
        (0.5, "fb3fe0000000000000"),
        (math.inf, "fb7ff0000000000000"),
        (math.nan, "fb7ff8000000000000"),
        (2**40, "fb4270000000000000"),
        (True, "f5"),
        (None, "f6"),
    ],
)
def test_numbers_are_written_as_cbor_x_writes_javascript_numbers(
    value: object, encoded: str
) -> None:
    assert dumps_nested(value).hex() == encoded


def test_nested_objects_use_map16_headers_in_insertion_order() -> None:
    assert dumps_nested({"b": 1, "a": {}}).hex() == "b900026162016161b90000"


def test_top_level_object_is_a_minimal_map_with_sorted_keys() -> None:
    encoded = dumps_top({"vectors": b"\x80", "chunkId": b"\x00"})
    assert cbor2.loads(encoded) == {"chunkId": 0, "vectors": []}
    assert encoded.hex().startswith("a2676368756e6b4964")


@given(
    rows=st.lists(
        st.lists(st.floats() | st.integers(-(2**40), 2**40), min_size=3, max_size=3),
        min_size=1,
        max_size=5,
    )
)
def test_vectorised_rows_match_item_by_item_encoding(rows: list[list[float]]) -> None:
    matrix = np.array(rows, dtype=np.float64)
    assert vector_items(matrix) == [dumps_nested(row) for row in matrix.tolist()]
