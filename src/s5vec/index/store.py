"""Normalised vectors of a database in RAM (f32, f16 or per-vector-scaled i8), plus an optional
full-precision copy in an unlinked temporary file used to re-score candidates exactly.

Exact scans run in numpy (f32: one BLAS matrix-vector product) or numkong's SIMD cosine
kernels (f16, i8), whichever measured faster for the dtype: over 100K x 384 i8 codes numkong's
``cdist`` takes ~7.5 ms where usearch's exact search takes 12-22 ms (usearch calls a slower
per-pair kernel). numkong's float32 output is ~8x slower than its float64 one, so distances come
back as float64. i8 codes scale each vector by
``127 / max |component|``; the cosine of two codes is scale-free, so they are searched with
the cosine metric and no scale has to be kept. usearch's built-in i8 uses one global scale,
which left recall@10 at 0.80 on clustered data; per-vector scaling measured 0.98.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any

import numkong
import numpy as np
import numpy.typing as npt

from s5vec.errors import InternalError
from s5vec.index.config import Quantization

_DTYPES: dict[str, type[np.generic]] = {"f32": np.float32, "f16": np.float16, "i8": np.int8}
_GATHER_ROWS = 8192  # rows copied at once when scanning a subset: bounds the temporary

Rows = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]


def normalise(vectors: F32) -> F32:
    """Return unit-length rows (zero rows stay zero: they score 0 against any query)."""
    # Scale each row to its largest component first, so the norm of huge finite components
    # cannot overflow float32 (and tiny ones cannot underflow to zero).
    peaks = np.abs(vectors).max(axis=1, keepdims=True)
    scaled = np.divide(vectors, peaks, out=np.zeros_like(vectors), where=peaks > 0)
    norms = np.linalg.norm(scaled, axis=1, keepdims=True)
    np.maximum(norms, np.finfo(np.float32).tiny, out=norms)
    return np.asarray(scaled / norms, dtype=np.float32)


def quantise(unit: F32, quantization: Quantization) -> npt.NDArray[Any]:
    """Encode unit rows for RAM storage in ``quantization``."""
    if quantization == "f32":
        return unit
    if quantization == "f16":
        return unit.astype(np.float16)
    peak = np.abs(unit).max(axis=1, keepdims=True)
    scale = np.divide(127.0, peak, out=np.zeros_like(peak), where=peak > 0)
    codes: npt.NDArray[np.int8] = np.rint(unit * scale).astype(np.int8)
    return codes


class VectorStore:
    """Read-only vectors of rows ``0 .. n - 1``: exact scans and exact re-scoring."""

    def __init__(
        self,
        ram: npt.NDArray[Any],
        quantization: Quantization,
        spill: IO[bytes] | None,
        threads: int,
    ) -> None:
        self.ram = ram
        self.quantization: Quantization = quantization
        self._spill = spill
        self._threads = threads
        self._row_bytes = ram.shape[1] * 4

    def __len__(self) -> int:
        return len(self.ram)

    @property
    def dimensions(self) -> int:
        """Vector length."""
        return int(self.ram.shape[1])

    def encode(self, unit_query: F32) -> npt.NDArray[Any]:
        """Encode a unit query the way rows are stored (for usearch kernels)."""
        encoded: npt.NDArray[Any] = quantise(unit_query[None, :], self.quantization)[0]
        return encoded

    def scan(self, unit_query: F32, count: int, rows: Rows | None = None) -> Rows:
        """Return the ``count`` best rows (all of ``rows`` when given) by exact scan, unordered."""
        if rows is None:
            return self._top(self.ram, unit_query, count)[0]
        if not len(rows):
            return rows
        found: list[Rows] = []
        dists: list[F32] = []
        for start in range(0, len(rows), _GATHER_ROWS):
            block = rows[start : start + _GATHER_ROWS]
            local, dist = self._top(self.ram[block], unit_query, count)
            found.append(block[local])
            dists.append(dist)
        every, every_dist = np.concatenate(found), np.concatenate(dists)
        return every[_best(-every_dist, count)]

    def rescore(self, unit_query: F32, rows: Rows) -> F32:
        """Return the cosine of ``unit_query`` with each of ``rows`` (full precision if kept)."""
        if self._spill is not None:
            vectors = self._read_spill(self._spill, rows)
            scores = vectors @ unit_query
        else:
            vectors = self.ram[rows].astype(np.float32)
            norms = np.linalg.norm(vectors.astype(np.float64), axis=1).astype(np.float32)
            scores = np.divide(
                vectors @ unit_query, norms, out=np.zeros(len(rows), np.float32), where=norms > 0
            )
        clipped: F32 = np.clip(scores, -1.0, 1.0).astype(np.float32)
        return clipped

    def nbytes(self) -> int:
        """RAM held by the vectors (the spill file is on disk)."""
        return int(self.ram.nbytes)

    def close(self) -> None:
        """Close (and so delete) the spill file; the RAM array goes with the last reference."""
        if self._spill is not None:
            self._spill.close()
            self._spill = None

    def _top(self, matrix: npt.NDArray[Any], unit_query: F32, count: int) -> tuple[Rows, F32]:
        """Best ``count`` rows of ``matrix`` and their cosine distances."""
        count = min(count, len(matrix))
        if count == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        if self.quantization == "f32":
            scores = matrix @ unit_query
            best = _best(scores, count)
            return best, 1.0 - scores[best]
        distances = np.empty((1, len(matrix)), dtype=np.float64)
        numkong.cdist(
            self.encode(unit_query)[None, :],
            matrix,
            "angular",
            threads=self._threads,
            out=distances,
        )
        best = _best(distances[0], count, largest=False)
        return best, distances[0, best].astype(np.float32)

    def _read_spill(self, spill: IO[bytes], rows: Rows) -> F32:
        """Read full-precision rows with pread (no mapping, so they never count as our RSS)."""
        fd, size, pread = spill.fileno(), self._row_bytes, os.pread
        data = b"".join([pread(fd, size, offset) for offset in (rows * size).tolist()])
        if len(data) != size * len(rows):
            raise InternalError("The spilled vectors file is shorter than expected")
        return np.frombuffer(data, dtype=np.float32).reshape(len(rows), self.dimensions)


def _best(values: npt.NDArray[np.floating[Any]], count: int, largest: bool = True) -> Rows:
    """Indices of the ``count`` highest (or lowest) values, unordered."""
    if count >= len(values):
        return np.arange(len(values), dtype=np.int64)
    if largest:
        return np.argpartition(-values, count - 1)[:count].astype(np.int64)
    return np.argpartition(values, count - 1)[:count].astype(np.int64)


class StoreBuilder:
    """Receives unit vectors chunk by chunk into a growing RAM array (and the spill file)."""

    def __init__(
        self,
        dimensions: int,
        quantization: Quantization,
        spill_dir: Path | None,
        threads: int,
        capacity: int = 0,
    ) -> None:
        self._quantization: Quantization = quantization
        self._threads = threads
        self._ram = np.empty((max(capacity, 1024), dimensions), dtype=_DTYPES[quantization])
        self._count = 0
        # Full precision goes to disk only when RAM holds less than full precision. The file
        # is unlinked at creation: it disappears when closed, or if the process dies.
        self._spill: IO[bytes] | None = None
        if spill_dir is not None and quantization != "f32":
            # Not a context manager: the file lives as long as the store, which closes it.
            self._spill = tempfile.TemporaryFile(  # noqa: SIM115
                dir=spill_dir, prefix="s5vec-", suffix=".f32"
            )

    def append(self, unit: F32, codes: npt.NDArray[Any]) -> None:
        """Add unit rows and their RAM codes (``quantise(unit, quantization)``)."""
        end = self._count + len(unit)
        if end > len(self._ram):
            # Grow geometrically; pages past ``end`` are never touched, so they cost no RSS.
            grown = np.empty((max(end, 2 * len(self._ram)), self._ram.shape[1]), self._ram.dtype)
            grown[: self._count] = self._ram[: self._count]
            self._ram = grown
        self._ram[self._count : end] = codes
        if self._spill is not None:
            self._spill.write(np.ascontiguousarray(unit).data)
        self._count = end

    def nbytes(self) -> int:
        """RAM held by the rows received so far."""
        return int(self._count * self._ram.shape[1] * self._ram.itemsize)

    def finish(self) -> VectorStore:
        """Return the store; the builder must not be used afterwards."""
        if self._spill is not None:
            self._spill.flush()
        return VectorStore(self._ram[: self._count], self._quantization, self._spill, self._threads)

    def discard(self) -> None:
        """Drop everything received (load failed or cancelled)."""
        if self._spill is not None:
            self._spill.close()
        self._ram = self._ram[:0]
