"""Vectors to publish: ``.npy`` (+ metadata ``.jsonl``) or ``{id, vector, metadata}`` lines."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import orjson

from s5vec.formats import MAX_DIMENSIONS


class SourceError(ValueError):
    """Input that cannot be published; the message names the file and line, never values."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Up to one chunk of vectors: ids, float32 rows (n, d), one metadata mapping each."""

    ids: list[str]
    vectors: npt.NDArray[np.float32]
    metadata: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class VectorSource:
    """A file of vectors with its count and dimension known before reading it all."""

    path: Path
    count: int
    dimensions: int
    metadata_path: Path | None = None

    def batches(self, size: int) -> Iterator[Batch]:
        """Yield the vectors in order, ``size`` at a time, validated."""
        if self.path.suffix == ".npy":
            yield from _npy_batches(self, size)
        else:
            yield from _jsonl_batches(self.path, self.dimensions, size)


def open_source(path: Path, metadata_path: Path | None = None) -> VectorSource:
    """Inspect ``path`` (``.npy`` or ``.jsonl``) and return a source ready to stream."""
    for given in (path, metadata_path):
        if given is not None and not given.is_file():
            raise SourceError(f"{given}: no such file")
    try:
        return _open(path, metadata_path)
    except OSError as exc:
        raise SourceError(
            f"{path}: cannot be read ({exc.strerror or type(exc).__name__})"
        ) from None


def _open(path: Path, metadata_path: Path | None) -> VectorSource:
    if path.suffix == ".npy":
        rows = _load_npy(path)
        count, dims = rows.shape
        if metadata_path is not None and _count_lines(metadata_path) != count:
            raise SourceError(f"{metadata_path}: needs exactly one JSON object per row ({count})")
        return VectorSource(path, count, dims, metadata_path)
    if path.suffix in (".jsonl", ".ndjson"):
        if metadata_path is not None:
            raise SourceError("--metadata goes with a .npy input; .jsonl lines carry their own")
        count, dims = _scan_jsonl(path)
        return VectorSource(path, count, dims)
    raise SourceError(f"{path}: expected a .npy or .jsonl file")


def _load_npy(path: Path) -> npt.NDArray[Any]:
    try:
        rows: npt.NDArray[Any] = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise SourceError(f"{path}: not a readable .npy file ({type(exc).__name__})") from None
    real = np.issubdtype(rows.dtype, np.integer) or np.issubdtype(rows.dtype, np.floating)
    if rows.ndim != 2 or not real:
        raise SourceError(
            f"{path}: expected a 2-D array of real numbers, got {rows.dtype} of shape {rows.shape}"
        )
    _check_dimensions(path, rows.shape[1])
    return rows


def _check_dimensions(path: Path, dims: int) -> None:
    if not 1 <= dims <= MAX_DIMENSIONS:
        raise SourceError(f"{path}: vectors need 1..{MAX_DIMENSIONS} dimensions, got {dims}")


def _finite_rows(path: Path, rows: npt.NDArray[Any], first_row: int) -> npt.NDArray[np.float32]:
    # Values beyond the float32 range become Inf, reported below; numpy need not warn too.
    with np.errstate(over="ignore"):
        vectors = np.ascontiguousarray(rows, dtype=np.float32)
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        raise SourceError(
            f"{path}: row {first_row + int(np.argmax(bad))} holds NaN, Inf or a number "
            "beyond the float32 range"
        )
    return vectors


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def _json_lines(path: Path, handle: BinaryIO) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            yield number, orjson.loads(line)
        except orjson.JSONDecodeError:
            raise SourceError(f"{path}:{number}: not valid JSON") from None


def _npy_batches(source: VectorSource, size: int) -> Iterator[Batch]:
    rows = _load_npy(source.path)
    metadata = _metadata_lines(source.metadata_path)
    for start in range(0, source.count, size):
        stop = min(start + size, source.count)
        yield Batch(
            ids=[str(i) for i in range(start, stop)],
            vectors=_finite_rows(source.path, rows[start:stop], start),
            metadata=[next(metadata) for _ in range(start, stop)],
        )


def _metadata_lines(path: Path | None) -> Iterator[dict[str, Any]]:
    if path is None:
        while True:
            yield {}
    with path.open("rb") as handle:
        for number, value in _json_lines(path, handle):
            if not isinstance(value, dict):
                raise SourceError(f"{path}:{number}: metadata must be a JSON object")
            yield value


def _record(path: Path, number: int, value: Any) -> tuple[str, list[Any], dict[str, Any]]:
    if not isinstance(value, dict):
        raise SourceError(f"{path}:{number}: expected an object with id, vector, metadata")
    ident, vector, metadata = value.get("id"), value.get("vector"), value.get("metadata")
    metadata = {} if metadata is None else metadata  # null reads as absent, as in chunks
    if not isinstance(ident, str | int) or isinstance(ident, bool) or ident == "":
        raise SourceError(f"{path}:{number}: id must be a non-empty string or an integer")
    if not isinstance(vector, list) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in vector
    ):
        raise SourceError(f"{path}:{number}: vector must be a list of numbers")
    if not isinstance(metadata, dict):
        raise SourceError(f"{path}:{number}: metadata must be an object")
    return str(ident), vector, metadata


def _scan_jsonl(path: Path) -> tuple[int, int]:
    count, dims = 0, 0
    with path.open("rb") as handle:
        for number, value in _json_lines(path, handle):
            _, vector, _ = _record(path, number, value)
            dims = dims or len(vector)
            if len(vector) != dims:
                raise SourceError(f"{path}:{number}: {len(vector)} dimensions, expected {dims}")
            count += 1
    if count == 0:
        raise SourceError(f"{path}: no vectors")
    _check_dimensions(path, dims)
    return count, dims


def _jsonl_batches(path: Path, dims: int, size: int) -> Iterator[Batch]:
    ids: list[str] = []
    rows: list[list[Any]] = []
    metadata: list[dict[str, Any]] = []
    done = 0
    with path.open("rb") as handle:
        for number, value in _json_lines(path, handle):
            ident, vector, meta = _record(path, number, value)
            if len(vector) != dims:
                raise SourceError(f"{path}:{number}: {len(vector)} dimensions, expected {dims}")
            ids.append(ident)
            rows.append(vector)
            metadata.append(meta)
            if len(ids) == size:
                yield Batch(ids, _finite_rows(path, np.array(rows), done), metadata)
                done += len(ids)
                ids, rows, metadata = [], [], []
    if ids:
        yield Batch(ids, _finite_rows(path, np.array(rows), done), metadata)
