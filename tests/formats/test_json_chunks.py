"""JSON chunks read in batches of vectors: same values as one whole decode, same errors."""

from __future__ import annotations

import json as stdlib_json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s5vec.errors import ChunkParseError, DimensionMismatch
from s5vec.formats import decode_chunk
from s5vec.formats.cbor_vectors import to_float32
from tests.formats.builders import chunk_dict, entry, json

BATCH = 512  # codec._JSON_ROWS_AT_ONCE: sizes around it cross batch boundaries

FLOAT32_MAX = 3.4028234663852886e38  # beyond it a component rounds to infinity: INVALID_VECTOR
components = st.one_of(
    st.floats(-FLOAT32_MAX, FLOAT32_MAX, width=64),
    st.integers(-(2**53), 2**53),
    st.sampled_from([0.0, -0.0, 5e-324, 1e-45, 1.401298464324817e-45, FLOAT32_MAX]),
)


def reference(data: bytes) -> np.ndarray:
    """The vectors as the standard library reads the JSON, rounded to float32 once."""
    rows = [item["vector"] for item in stdlib_json.loads(data)["vectors"]]
    return to_float32(np.array(rows, dtype=np.float64))


@settings(max_examples=25, deadline=None)
@given(
    count=st.sampled_from([1, 2, BATCH - 1, BATCH, BATCH + 1, 2 * BATCH + 3]),
    width=st.integers(1, 5),
    data=st.data(),
)
def test_batched_rows_equal_the_whole_file_read(count: int, width: int, data: Any) -> None:
    values = data.draw(st.lists(components, min_size=width, max_size=width))
    rows = [[values[(row + col) % width] for col in range(width)] for row in range(count)]
    encoded = json(chunk_dict([(f"v{row}", vector) for row, vector in enumerate(rows)]))
    chunk = decode_chunk(encoded, None, entry(0, count), None)
    assert chunk.vectors.shape == (count, width)
    assert chunk.vectors.tobytes() == reference(encoded).tobytes()  # bit for bit
    assert chunk.ids == [f"v{row}" for row in range(count)]


def test_a_vector_of_another_length_in_a_later_batch_is_named() -> None:
    rows: list[list[float]] = [[0.5, 1.5, 2.5] for _ in range(BATCH + 200)]
    rows[BATCH + 100] = [0.5, 1.5]
    encoded = json(chunk_dict([(f"v{row}", vector) for row, vector in enumerate(rows)]))
    with pytest.raises(DimensionMismatch, match=f"vector {BATCH + 100} has 2 dimensions"):
        decode_chunk(encoded, None, entry(0, len(rows)), None)


def test_a_batch_of_other_width_than_the_first_is_refused() -> None:
    rows = [[0.5, 1.5, 2.5]] * BATCH + [[0.5, 1.5]] * BATCH
    encoded = json(chunk_dict([(f"v{row}", vector) for row, vector in enumerate(rows)]))
    with pytest.raises(DimensionMismatch, match=f"vector {BATCH} has 2 dimensions"):
        decode_chunk(encoded, None, entry(0, len(rows)), None)


def test_a_non_number_in_a_later_batch_names_its_place() -> None:
    rows: list[list[Any]] = [[0.5, 1.5] for _ in range(BATCH + 50)]
    rows[BATCH + 7] = [0.5, "x"]
    encoded = json(chunk_dict([(f"v{row}", vector) for row, vector in enumerate(rows)]))
    with pytest.raises(ChunkParseError, match=rf"vectors\[{BATCH + 7}\]\.vector"):
        decode_chunk(encoded, None, entry(0, len(rows)), None)
