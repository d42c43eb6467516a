"""A session's uploaded vectors (SPEC section 4): small, mutable, searched exactly.

Each record is validated on its own and rejected alone (an ``uploadVectorsResponse.errors``
entry); a batch that would take the store past ``max_vectors`` is refused whole with
MemoryLimitExceeded and changes nothing. A repeated id replaces the earlier vector in place.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import orjson

from s5vec.errors import DimensionMismatch, InvalidVector, MemoryLimitExceeded
from s5vec.formats.metadata import MAX_METADATA_DEPTH, nested_deeper_than
from s5vec.index.filters import MISSING, FilterMatcher, MetadataFilter
from s5vec.index.search import (
    MAX_DIMENSIONS,
    SearchHit,
    select_hits,
    unit_query,
    unit_vector,
    vector_from_json,
)

MAX_METADATA_BYTES = 10 * 1024


@dataclass(slots=True)
class UploadResult:
    """Outcome of one upload: counts, and one wire-shaped entry per rejected record."""

    uploaded: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> Literal["success", "partial", "error"]:
        """``success`` if nothing was rejected, ``error`` if nothing was accepted."""
        if not self.rejected:
            return "success"
        return "partial" if self.uploaded else "error"


@dataclass(frozen=True, slots=True)
class _Accepted:
    id: str
    unit: npt.NDArray[np.float32]
    metadata: dict[str, Any]
    size: int  # serialized metadata bytes


class UploadedVectors:
    """The uploaded vectors of one session. Safe to use from several threads."""

    def __init__(self, max_vectors: int, dimensions: int | None = None) -> None:
        self._max = max_vectors
        self._pinned = dimensions  # the database's dimension, when there is one
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        """Forget every vector (and the dimension, unless the database fixed it)."""
        self._dimensions = self._pinned
        self._vectors = np.empty((0, self._pinned or 0), dtype=np.float32)
        self._ids: list[str] = []
        self._metadata: list[dict[str, Any]] = []
        self._sizes: list[int] = []
        self._rows: dict[str, int] = {}
        self._matcher: FilterMatcher | None = None

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def dimensions(self) -> int | None:
        """Vector length of the store (None while empty and not fixed by a database)."""
        return self._dimensions

    def memory_bytes(self) -> int:
        """Estimate of resident bytes: vectors, ids and metadata."""
        return len(self) * (self._vectors.shape[1] * 4 + 200) + sum(self._sizes)

    def clear(self) -> None:
        """Remove every uploaded vector."""
        with self._lock:
            self._reset()

    def add(self, records: Sequence[Any], *, replace: bool = False) -> UploadResult:
        """Validate and store ``records`` (``{"id", "vector", "metadata"}`` mappings).

        ``replace`` clears the store first. Raises MemoryLimitExceeded, changing nothing,
        when the accepted records would take the store past ``max_vectors``.
        """
        with self._lock:
            dimensions = self._pinned if replace else self._dimensions
            result = UploadResult()
            accepted: list[_Accepted] = []
            for index, record in enumerate(records):
                try:
                    item = _validate(record, dimensions)
                except (InvalidVector, DimensionMismatch) as exc:
                    rid = record.get("id") if isinstance(record, Mapping) else None
                    result.errors.append(
                        {
                            "index": index,
                            "id": rid if isinstance(rid, str) else None,
                            "code": exc.code,
                            "message": exc.message,
                        }
                    )
                    continue
                dimensions = len(item.unit)
                accepted.append(item)
            kept = 0 if replace else len(self)
            added = sum(1 for rid in {i.id for i in accepted} if replace or rid not in self._rows)
            if kept + added > self._max:
                raise MemoryLimitExceeded(f"Uploads are limited to {self._max} vectors per session")
            if replace:
                self._reset()
            for item in accepted:
                self._put(item)
            result.uploaded, result.rejected = len(accepted), len(result.errors)
            return result

    def _put(self, item: _Accepted) -> None:
        """Store one validated record, replacing a vector with the same id."""
        if self._dimensions is None or not len(self._vectors):
            self._dimensions = len(item.unit)
            self._vectors = np.empty((16, self._dimensions), dtype=np.float32)
        row = self._rows.get(item.id)
        if row is None:
            row = len(self._ids)
            if row == len(self._vectors):
                grown = np.empty((2 * row, self._vectors.shape[1]), dtype=np.float32)
                grown[:row] = self._vectors
                self._vectors = grown
            self._rows[item.id] = row
            self._ids.append(item.id)
            self._metadata.append(item.metadata)
            self._sizes.append(item.size)
        else:
            self._metadata[row], self._sizes[row] = item.metadata, item.size
        self._vectors[row] = item.unit
        self._matcher = None  # filter columns are rebuilt on the next filtered search

    def search(
        self,
        query: npt.NDArray[np.float32],
        k: int,
        threshold: float | None = None,
        flt: MetadataFilter | None = None,
    ) -> list[SearchHit]:
        """Exact top ``k`` by cosine with ``score >= threshold`` among rows matching ``flt``."""
        with self._lock:
            count = len(self._ids)
            if not count:
                return []
            unit = unit_query(query, self._dimensions, "uploads")
            if flt is None:
                rows = np.arange(count, dtype=np.int64)
                scores = self._vectors[:count] @ unit
            else:
                if self._matcher is None:
                    metadata = self._metadata
                    self._matcher = FilterMatcher(
                        count, lambda name: (m.get(name, MISSING) for m in metadata)
                    )
                rows = np.flatnonzero(self._matcher.mask(flt))
                scores = self._vectors[rows] @ unit
            if len(rows) > k:
                # Only the best k can be returned: a partition first keeps the sort small.
                best = np.argpartition(-scores, k - 1)[:k]
                rows, scores = rows[best], scores[best]
            ids, metadata = self._ids, self._metadata
            return select_hits(
                rows,
                np.clip(scores, -1.0, 1.0),
                k,
                threshold,
                lambda row, score: SearchHit(ids[row], score, dict(metadata[row])),
            )


def _validate(record: Any, dimensions: int | None) -> _Accepted:
    """Check one record against the store's dimension; raise its wire error."""
    if not isinstance(record, Mapping):
        raise InvalidVector("Each uploaded vector must be an object")
    rid = record.get("id")
    if not isinstance(rid, str) or not rid:
        raise InvalidVector("Each uploaded vector needs a non-empty string id")
    vector = vector_from_json(record.get("vector"))
    if vector is None:
        raise InvalidVector("vector must be a list of numbers")
    if not 1 <= len(vector) <= MAX_DIMENSIONS:
        raise DimensionMismatch(f"Vector dimensions must be from 1 to {MAX_DIMENSIONS}")
    if dimensions is not None and len(vector) != dimensions:
        raise DimensionMismatch(f"Vector has {len(vector)} dimensions; the store has {dimensions}")
    if not np.isfinite(vector).all():
        raise InvalidVector()
    unit = unit_vector(vector)
    if unit is None:
        raise InvalidVector("A zero vector has no direction to compare")
    metadata = record.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise InvalidVector("metadata must be an object")
    if nested_deeper_than(metadata, MAX_METADATA_DEPTH):
        raise InvalidVector(f"metadata nests more than {MAX_METADATA_DEPTH} levels deep")
    try:
        encoded = orjson.dumps(metadata)
    except orjson.JSONEncodeError:
        raise InvalidVector("metadata must be JSON") from None
    if len(encoded) > MAX_METADATA_BYTES:
        raise InvalidVector(f"metadata is over {MAX_METADATA_BYTES // 1024} KB as JSON")
    # A decoded copy: JSON types only, and later changes by the caller do not leak in.
    return _Accepted(rid, unit, orjson.loads(encoded), len(encoded))
