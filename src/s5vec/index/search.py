"""Search results, query validation, and the merge of several stores (SPEC section 4)."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from s5vec.errors import InvalidMessage
from s5vec.index.filters import MetadataFilter

MAX_K = 100
MAX_DIMENSIONS = 4096


class SearchHit(msgspec.Struct, frozen=True):
    """One result: the vector's id, its cosine similarity to the query, its metadata."""

    id: str
    score: float
    metadata: dict[str, Any]


class Searchable(Protocol):
    """A store that answers exact-enough top-k searches."""

    def __len__(self) -> int: ...

    def search(
        self,
        query: npt.NDArray[np.float32],
        k: int,
        threshold: float | None,
        flt: MetadataFilter | None,
    ) -> list[SearchHit]:
        """Return the top ``k`` hits with ``score >= threshold`` matching ``flt``, best first."""
        ...


def merged_search(
    sources: Sequence[Searchable],
    query: npt.NDArray[np.float32],
    k: int,
    threshold: float | None,
    flt: MetadataFilter | None,
) -> list[SearchHit]:
    """Return the top ``k`` over the union of ``sources`` (each source's own top ``k`` suffices)."""
    hits = [
        hit for source in sources if len(source) for hit in source.search(query, k, threshold, flt)
    ]
    return heapq.nlargest(k, hits, key=lambda hit: hit.score)


def validate_query(query: Any, dimensions: int, k: Any, threshold: Any) -> npt.NDArray[np.float32]:
    """Check a search request's query, ``k`` and ``threshold``; return the unit query vector.

    Raises InvalidMessage for ``k`` outside 1..100, a threshold outside [-1, 1], or a query that
    is not a list of ``dimensions`` finite numbers with a non-zero norm.
    """
    if type(k) is not int or not 1 <= k <= MAX_K:
        raise InvalidMessage(f"k must be an integer from 1 to {MAX_K}")
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, Real)
        or not -1.0 <= float(threshold) <= 1.0
    ):
        raise InvalidMessage("threshold must be a number from -1 to 1")
    vector = vector_from_json(query)
    if vector is None:
        raise InvalidMessage("queryVector must be a list of numbers")
    if len(vector) != dimensions:
        raise InvalidMessage(
            f"queryVector has {len(vector)} dimensions; the vectors have {dimensions}"
        )
    if not np.isfinite(vector).all():
        raise InvalidMessage("queryVector holds NaN or infinite values")
    unit = unit_vector(vector)
    if unit is None:
        raise InvalidMessage("queryVector has zero length, so cosine similarity is undefined")
    return unit


def vector_from_json(value: Any) -> npt.NDArray[np.float64] | None:
    """Return ``value`` as a float64 vector, or None unless it is a list of real numbers."""
    if not isinstance(value, list | tuple):
        return None
    try:
        # msgspec checks every item in C: numbers only (no bools, strings or nulls).
        return np.asarray(msgspec.convert(value, list[float]), dtype=np.float64)
    except msgspec.ValidationError:
        return None


def unit_vector(vector: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float32] | None:
    """Return finite ``vector`` scaled to unit length as float32, or None for a zero vector."""
    peak = float(np.abs(vector).max(initial=0.0))
    if peak == 0.0:
        return None
    scaled = vector / peak  # first to the largest component, so the norm cannot overflow
    return (scaled / np.linalg.norm(scaled)).astype(np.float32)


def unit_query(
    query: npt.NDArray[Any], dimensions: int | None, holder: str
) -> npt.NDArray[np.float32]:
    """``query`` as a unit float32 vector of ``dimensions``; InvalidMessage when unusable."""
    vector = np.asarray(query, dtype=np.float32).reshape(-1)
    if len(vector) != dimensions:
        raise InvalidMessage(
            f"queryVector has {len(vector)} dimensions; {holder} have {dimensions}"
        )
    unit = unit_vector(vector) if np.isfinite(vector).all() else None
    if unit is None:
        raise InvalidMessage("queryVector must be finite and non-zero")
    return unit


def select_hits(
    rows: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float32],
    k: int,
    threshold: float | None,
    hit: Callable[[int, float], SearchHit],
) -> list[SearchHit]:
    """Turn scored rows into the top ``k`` hits with ``score >= threshold``, best first."""
    if threshold is not None:
        keep = scores >= np.float32(threshold)
        rows, scores = rows[keep], scores[keep]
    order = np.lexsort((rows, -scores))[:k]  # ties: lower row first, for stable answers
    return [hit(int(rows[i]), float(scores[i])) for i in order]
