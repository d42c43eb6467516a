"""Tuning of a database index, with defaults measured on the 2-core target machine.

Measured at 100K x 384 clustered vectors (64 centres, noise 0.6, queries near data points),
recall@10 against exact float64 search; machine shared and busy, so times are upper bounds:

- RAM per storage, loaded (vectors + ids + metadata): f32 157 MB, f16 83 MB, i8 47 MB RSS
  growth; the graph adds ~21 MB at connectivity 16, ~15 MB at 12.
- recall, exact scan: i8 codes alone 0.98, i8 re-scored from the spill file 1.00, f16 1.00.
- recall, graph at expansion_search 128, i8 + spill: connectivity 16 0.997 / 0.989,
  connectivity 12 0.995 / 0.986 (two query spreads); without spill (i8 codes re-scored
  from RAM) 0.978 / 0.972 at 16. expansion_search 64 drops to 0.94-0.97.
- expansion_search at connectivity 12, i8 + spill, graphs built with one / two threads:
  64 0.967 / 0.959, 80 0.976 / 0.971, 96 0.985 / 0.976, 128 0.992 / 0.994. Each step of 32
  costs ~0.15 ms of usearch time per query (0.85 ms at 96); 96 keeps a margin over 0.97.
  The graph proposes max(ef, candidates) rows, so re-scoring more candidates than 40 adds no
  recall at ef >= 64 (measured 16-64); 64 candidates keep the exact i8 scan at recall 1.00.
- HNSW beats the exact i8 scan from 5K rows on (0.2 vs 0.7 ms), but the exact scan stays
  near a millisecond up to ~10K rows, where a graph is not worth its build.
- one build thread: 100K rows take 60-270 s (connectivity 12 about half of 16); a second
  thread did not help on this shared machine and would take the core searches need.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Quantization = Literal["f32", "f16", "i8"]


@dataclass(frozen=True, slots=True)
class IndexConfig:
    """How a :class:`~s5vec.index.database.DatabaseIndex` stores and searches vectors.

    ``quantization`` is the in-RAM storage of the normalised vectors: ``i8`` (per-vector
    scaled codes, 1 byte per component), ``f16`` or ``f32``. With ``spill_dir`` set and a
    quantised storage, full-precision vectors go to an unlinked temporary file there and the
    top candidates are re-scored from it, so scores are exact cosines; without it they are
    re-scored from the RAM copy. ``graph_threshold``: databases at least this large get an
    HNSW graph, built in the background with ``build_threads`` threads once loading is done.
    Every search re-scores ``max(4 * k, rescore_candidates)`` candidates.
    """

    quantization: Quantization = "i8"
    spill_dir: Path | None = None
    graph_threshold: int = 10_000
    connectivity: int = 12
    expansion_add: int = 128
    expansion_search: int = 96
    build_threads: int = 1
    search_threads: int = 1
    rescore_candidates: int = 64

    def __post_init__(self) -> None:
        if self.quantization not in ("f32", "f16", "i8"):
            raise ValueError(f"quantization must be f32, f16 or i8, not {self.quantization!r}")
        for name in ("graph_threshold", "connectivity", "expansion_add", "expansion_search"):
            if getattr(self, name) < 2:
                raise ValueError(f"{name} must be at least 2")
        for name in ("build_threads", "search_threads", "rescore_candidates"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
