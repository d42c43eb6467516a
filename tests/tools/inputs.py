"""Input files for the publish tools, and hypothesis strategies for what goes in them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from hypothesis import strategies as st

OWNER = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
KEY = bytes(range(32))
OTHER_KEY = bytes([7]) * 32

SPECIAL_VALUES = np.array(
    [0.0, -0.0, 1.0, -1.0, 0.5, 3.0, -(2.0**32), 2.0**32, 2.0**32 - 256, 1e-45, 3.4028235e38],
    dtype=np.float32,
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)  # JavaScript's exact integers: what s5.js can carry
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
"""Random metadata: any JSON object."""


@dataclass(frozen=True)
class Dataset:
    """Vectors to publish: text ids as written (str or int), float32 rows, metadata."""

    ids: list[str | int]
    vectors: npt.NDArray[np.float32]
    metadata: list[dict[str, Any]]


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    """n in 1..50 vectors of d in 1..16 finite float32 values, unique ids, JSON metadata."""
    n = draw(st.integers(1, 50))
    d = draw(st.integers(1, 16))
    # Random bit patterns reach every exponent (subnormals, extremes) far faster than drawing
    # element by element; non-finite patterns become 0. Some entries are then swapped for
    # values that take other encoder paths: -0, small integers, the edges of cbor-x's
    # integer range.
    rng = np.random.default_rng(draw(st.integers(0, 2**32)))
    vectors = rng.integers(0, 2**32, size=(n, d), dtype=np.uint32).view(np.float32)
    vectors[~np.isfinite(vectors)] = 0
    special = rng.random((n, d)) < draw(st.sampled_from([0.0, 0.3, 1.0]))
    vectors[special] = rng.choice(SPECIAL_VALUES, size=int(special.sum()))
    ids = draw(
        st.lists(
            st.text(min_size=1, max_size=10) | st.integers(-(10**12), 10**12),
            min_size=n,
            max_size=n,
            unique_by=str,
        )
    )
    metadata = draw(st.lists(json_objects, min_size=n, max_size=n))
    return Dataset(ids, vectors, metadata)


def write_lines(path: Path, values: list[Any]) -> Path:
    """Write one JSON value per line."""
    path.write_bytes(b"".join(orjson.dumps(value) + b"\n" for value in values))
    return path


def write_jsonl(path: Path, data: Dataset) -> Path:
    """``{id, vector, metadata}`` lines, numbers written so that they read back exactly."""
    records = [
        {"id": ident, "vector": row.tolist(), "metadata": meta}
        for ident, row, meta in zip(data.ids, data.vectors, data.metadata, strict=True)
    ]
    return write_lines(path, records)


def write_npy(path: Path, rows: npt.NDArray[Any]) -> Path:
    """Save ``rows`` as a .npy file."""
    np.save(path, rows)
    return path
