"""Seeded data and brute-force references for the index tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from s5vec.index import DatabaseIndex, IndexConfig, MetadataFilter, SearchHit

F32 = npt.NDArray[np.float32]


def clustered(n: int, d: int, seed: int = 0, centres: int = 64, noise: float = 0.6) -> F32:
    """SPEC section 10 data: Gaussian centres plus per-component noise."""
    rng = np.random.default_rng(seed)
    centre = rng.standard_normal((centres, d), dtype=np.float32)
    rows = centre[rng.integers(0, centres, n)] + noise * rng.standard_normal((n, d), np.float32)
    return np.ascontiguousarray(rows, dtype=np.float32)


def random_vectors(n: int, d: int, seed: int = 0) -> F32:
    """Uniform random vectors in [-1, 1]^d."""
    return np.random.default_rng(seed).uniform(-1, 1, (n, d)).astype(np.float32)


def near(data: F32, count: int, seed: int = 1, noise: float = 0.1) -> F32:
    """Queries close to randomly chosen data points."""
    rng = np.random.default_rng(seed)
    picked = data[rng.integers(0, len(data), count)]
    return (picked + noise * rng.standard_normal(picked.shape, np.float32)).astype(np.float32)


def ids_for(n: int, start: int = 0) -> list[str]:
    """Ids ``v<row>``."""
    return [f"v{i}" for i in range(start, start + n)]


def build(
    vectors: F32,
    config: IndexConfig,
    metadata: list[dict[str, Any]] | None = None,
    chunk: int = 1000,
) -> DatabaseIndex:
    """Load ``vectors`` chunk by chunk into a finished index."""
    index = DatabaseIndex(None, config)
    meta = metadata if metadata is not None else [{} for _ in range(len(vectors))]
    for start in range(0, len(vectors), chunk):
        end = min(start + chunk, len(vectors))
        index.add_chunk(ids_for(end - start, start), vectors[start:end], meta[start:end])
    index.finish()
    return index


def brute_force(
    vectors: F32,
    ids: list[str],
    metadata: list[dict[str, Any]],
    query: F32,
    k: int,
    threshold: float | None = None,
    flt: MetadataFilter | None = None,
) -> list[tuple[str, float]]:
    """Exact top-k (id, score) in float64, filtered record by record."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = unit.astype(np.float64) @ (query / np.linalg.norm(query)).astype(np.float64)
    keep = [
        i
        for i in range(len(ids))
        if (flt is None or flt.matches(metadata[i]))
        and (threshold is None or scores[i] >= threshold)
    ]
    keep.sort(key=lambda i: -scores[i])
    return [(ids[i], float(scores[i])) for i in keep[:k]]


def exact_ids(vectors: F32, queries: F32, k: int = 10) -> list[set[int]]:
    """Rows of the exact top-k of every query."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    qs = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    top = np.argsort(-(qs @ unit.T), axis=1)[:, :k]
    return [set(row.tolist()) for row in top]


def recall(index: DatabaseIndex, queries: F32, truth: list[set[int]], k: int = 10) -> float:
    """Mean recall@k of ``index`` against ``truth``."""
    found = [{int(h.id[1:]) for h in index.search(q, k)} for q in queries]
    return float(np.mean([len(f & t) / k for f, t in zip(found, truth, strict=True)]))


def pairs(hits: list[SearchHit]) -> list[tuple[str, float]]:
    """(id, score) of hits."""
    return [(h.id, h.score) for h in hits]


def same_hits(got: list[SearchHit], want: list[tuple[str, float]], tol: float = 1e-5) -> bool:
    """Whether ``got`` lists the ids of ``want`` in order, with scores within ``tol``."""
    return [h.id for h in got] == [i for i, _ in want] and all(
        abs(h.score - score) <= tol for h, (_, score) in zip(got, want, strict=True)
    )
