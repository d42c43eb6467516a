"""Baselines measured in the same run as the server (SPEC section 10), no server involved.

- bare decode: the naive reader, ``cbor2.loads`` (or AES-GCM decrypt + ``orjson.loads`` for
  encrypted JSON) of each file + ``np.array(..., float32)`` of its vectors + normalisation;
- s5vec decode: the product's own ``decode_chunk`` on the same files (a diagnostic: the
  server's load time minus this is what the server adds around decoding);
- exact search: numpy float32 matmul + ``argpartition``, one query at a time, k=10;
- raw library build: hnswlib with the reference host's settings (M=12, efConstruction=48,
  ef=max(2k, 50)), all cores, then its search latency and recall@10.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cbor2
import hnswlib
import numpy as np
import orjson

from benchmarks.data import SESSION_KEY, Published
from s5vec.crypto import aesgcm
from s5vec.formats import decode_chunk, decode_manifest

K = 10
REFERENCE_M = 12
REFERENCE_EF_CONSTRUCTION = 48


def reference_ef(k: int = K) -> int:
    """The reference host's search expansion: ``max(2k, 50)``."""
    return max(2 * k, 50)


def normalise(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (rows / norms).astype(np.float32, copy=False)


def percentiles(samples_s: list[float]) -> dict[str, float]:
    """p50 / p99 / mean of durations in seconds, as milliseconds."""
    values = np.asarray(samples_s, dtype=np.float64) * 1000.0
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p99_ms": float(np.percentile(values, 99)),
        "mean_ms": float(values.mean()),
        "n": len(samples_s),
    }


def bare_decode(published: Published) -> dict[str, float]:
    """Time the naive reader over every chunk file of ``published`` (file reads included)."""
    started = time.perf_counter()
    rows = 0
    for path in published.files:
        data = path.read_bytes()
        if published.encrypted:
            data = aesgcm.decrypt(SESSION_KEY, data)
        chunk = orjson.loads(data) if published.fmt == "json" else cbor2.loads(data)
        vectors = np.array([entry["vector"] for entry in chunk["vectors"]], dtype=np.float32)
        normalise(vectors)
        rows += len(vectors)
    return {"seconds": time.perf_counter() - started, "vectors": rows}


def s5vec_decode(published: Published) -> dict[str, float]:
    """Time the product's decoder (manifest + every chunk) over the same files, one thread."""
    key = SESSION_KEY if published.encrypted else None
    started = time.perf_counter()
    manifest_file = published.files[0].parent / "manifest.json"
    manifest = decode_manifest(manifest_file.read_bytes(), key).manifest
    rows = 0
    for entry, path in zip(manifest.chunks, published.files, strict=True):
        chunk = decode_chunk(path.read_bytes(), key, entry, manifest.dimensions)
        rows += len(chunk.ids)
    return {"seconds": time.perf_counter() - started, "vectors": rows}


@dataclass
class ExactSearch:
    """Ground truth and timings of exact numpy search over one dataset."""

    truth: list[list[int]]
    filtered_truth: list[list[int]]
    timing: dict[str, float]
    filtered_timing: dict[str, float]

    def summary(self) -> dict[str, dict[str, float]]:
        """The timings, for the report."""
        return {"unfiltered": self.timing, "filtered": self.filtered_timing}


def _top_k(unit: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    scores = unit @ query
    k = min(k, len(scores))
    best = np.argpartition(-scores, k - 1)[:k]
    return best[np.argsort(-scores[best])]


def exact_search(vectors: np.ndarray, queries: np.ndarray, mask: np.ndarray) -> ExactSearch:
    """Exact top-10 of every query, timed one query at a time, without and with the filter.

    The filtered baseline scans only the matching rows (selected once, outside the timing),
    the best a naive host could do with a precomputed filter.
    """
    unit = normalise(vectors)
    unit_queries = normalise(queries)
    matching = np.flatnonzero(mask)
    subset = np.ascontiguousarray(unit[matching])
    truth, filtered, times, filtered_times = [], [], [], []
    for query in unit_queries:
        started = time.perf_counter()
        best = _top_k(unit, query, K)
        times.append(time.perf_counter() - started)
        truth.append(best.tolist())
        started = time.perf_counter()
        best = _top_k(subset, query, K)
        filtered_times.append(time.perf_counter() - started)
        filtered.append(matching[best].tolist())
    return ExactSearch(truth, filtered, percentiles(times), percentiles(filtered_times))


def recall_at_k(found: list[list[int]], truth: list[list[int]], k: int = K) -> float:
    """Mean share of the true top-k that was returned."""
    hits = [
        len(set(f[:k]) & set(t[:k])) / max(1, min(k, len(t)))
        for f, t in zip(found, truth, strict=True)
    ]
    return float(np.mean(hits)) if hits else 0.0


@dataclass
class LibraryBaseline:
    """hnswlib with the reference host's settings."""

    build_s: float
    threads: int
    m: int
    ef_construction: int
    ef: int
    search: dict[str, float]
    recall_at_10: float

    def summary(self) -> dict[str, object]:
        """The numbers, for the report."""
        return asdict(self)


def hnswlib_baseline(vectors: np.ndarray, queries: np.ndarray, truth: list[list[int]]):
    """Build hnswlib (cosine, M=12, efC=48, all cores), then time single-query k=10 searches."""
    threads = os.cpu_count() or 1
    unit = normalise(vectors)
    index = hnswlib.Index(space="cosine", dim=unit.shape[1])
    started = time.perf_counter()
    index.init_index(
        max_elements=len(unit), M=REFERENCE_M, ef_construction=REFERENCE_EF_CONSTRUCTION
    )
    index.add_items(unit, np.arange(len(unit)), num_threads=threads)
    build_s = time.perf_counter() - started
    index.set_ef(reference_ef())
    index.set_num_threads(1)
    times, found = [], []
    for query in queries:
        started = time.perf_counter()
        labels, _ = index.knn_query(query, k=min(K, len(unit)))
        times.append(time.perf_counter() - started)
        found.append(labels[0].tolist())
    return LibraryBaseline(
        build_s=build_s,
        threads=threads,
        m=REFERENCE_M,
        ef_construction=REFERENCE_EF_CONSTRUCTION,
        ef=reference_ef(),
        search=percentiles(times),
        recall_at_10=recall_at_k(found, truth),
    )


def file_sizes(published: Published) -> int:
    """Bytes of the chunk files."""
    return sum(Path(path).stat().st_size for path in published.files)
