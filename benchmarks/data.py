"""Seeded benchmark data (SPEC section 10) and publishing it into a local S5 store.

Vectors are clustered: 64 Gaussian centres (unit normal components) plus per-component
Gaussian noise 0.6; queries are data points plus noise 0.1, so each has a clear nearest
neighbour and nine hard ones among its cluster. Every database gets its own id prefix, so a
search answer shows which database it came from (the cross-talk check).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from s5vec.crypto.ethereum import address_from_public_key
from s5vec.crypto.secp256k1 import public_key_from_private
from s5vec.storage.local import LocalStorage
from s5vec.tools.publish import PublishOptions, PublishResult, publish
from s5vec.tools.sources import Batch

DIMENSIONS = 384
CENTRES = 64
NOISE = 0.6
QUERY_NOISE = 0.1
CATEGORIES = 8
FILTER_CATEGORY = "c3"
"""Metadata filter used in the benchmarks: ``{"category": {"$eq": "c3"}}`` (1 row in 8)."""

# Fixed, public benchmark keys: the owner signs encrypted inits; the AES key encrypts files.
OWNER_PRIVATE_KEY = bytes.fromhex("11" * 32)
SESSION_KEY = bytes.fromhex("22" * 32)


def owner_address() -> str:
    """The EIP-55 address of the benchmark owner key."""
    return address_from_public_key(public_key_from_private(OWNER_PRIVATE_KEY, compressed=False))


def clustered(n: int, d: int, seed: int) -> np.ndarray:
    """``n`` rows of clustered float32 vectors (SPEC section 10 data)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CENTRES, d), dtype=np.float32)
    rows = np.empty((n, d), dtype=np.float32)
    step = 65_536  # bounded temporaries for the 1M set
    for start in range(0, n, step):
        stop = min(n, start + step)
        rows[start:stop] = centres[rng.integers(0, CENTRES, stop - start)]
        rows[start:stop] += NOISE * rng.standard_normal((stop - start, d), dtype=np.float32)
    return rows


def near(data: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` queries: random data points plus a little noise."""
    rng = np.random.default_rng(seed)
    picked = data[rng.integers(0, len(data), count)]
    return (picked + QUERY_NOISE * rng.standard_normal(picked.shape, np.float32)).astype(np.float32)


@dataclass
class Dataset:
    """One database's content: ids ``<prefix>-<row>``, vectors, metadata, and queries."""

    prefix: str
    vectors: np.ndarray
    queries: np.ndarray
    categories: np.ndarray
    ids: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.ids = [f"{self.prefix}-{i}" for i in range(len(self.vectors))]

    @property
    def count(self) -> int:
        """Number of vectors."""
        return len(self.vectors)

    def metadata(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Small, realistic metadata: a source document, a page, a category."""
        return [
            {"source": f"doc-{i // 20}.md", "page": i % 20, "category": f"c{self.categories[i]}"}
            for i in range(start, stop)
        ]

    def filter_mask(self) -> np.ndarray:
        """Rows matching :data:`FILTER_CATEGORY`."""
        return self.categories == int(FILTER_CATEGORY[1:])


def make_dataset(n: int, seed: int, prefix: str, queries: int, d: int = DIMENSIONS) -> Dataset:
    """A seeded clustered database of ``n`` vectors with ``queries`` queries near its rows."""
    vectors = clustered(n, d, seed)
    categories = np.random.default_rng(seed + 7).integers(0, CATEGORIES, n).astype(np.int8)
    return Dataset(prefix, vectors, near(vectors, queries, seed + 13), categories)


@dataclass(frozen=True)
class _ArraySource:
    """A ``VectorSource`` look-alike over an in-memory dataset (``publish`` duck-types it)."""

    dataset: Dataset
    path: Path

    @property
    def count(self) -> int:
        return self.dataset.count

    @property
    def dimensions(self) -> int:
        return int(self.dataset.vectors.shape[1])

    def batches(self, size: int) -> Iterator[Batch]:
        ds = self.dataset
        for start in range(0, ds.count, size):
            stop = min(ds.count, start + size)
            yield Batch(ds.ids[start:stop], ds.vectors[start:stop], ds.metadata(start, stop))


@dataclass(frozen=True)
class Published:
    """A database in the store: where, in which format, and whether encrypted."""

    name: str
    fmt: str
    encrypted: bool
    manifest_path: str
    files: list[Path]
    bytes_written: int
    seconds: float


async def publish_dataset(
    store_dir: Path, dataset: Dataset, name: str, fmt: str, encrypted: bool, chunk_size: int
) -> Published:
    """Publish ``dataset`` as database ``name`` (``cbor`` or ``json``; AES-GCM if encrypted)."""
    storage = LocalStorage(store_dir)
    options = PublishOptions(
        owner=owner_address(),
        name=name,
        fmt=fmt,  # type: ignore[arg-type]
        key=SESSION_KEY if encrypted else None,
        chunk_size=chunk_size,
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    result: PublishResult = await publish(
        _ArraySource(dataset, Path(name)),  # type: ignore[arg-type]
        storage,
        options,
    )
    seconds = loop.time() - started
    await storage.close()
    directory = store_dir / Path(result.manifest_path).parent
    files = [directory / f"chunk-{i}.json" for i in range(result.chunk_count)]
    return Published(
        name, fmt, encrypted, result.manifest_path, files, result.bytes_written, seconds
    )
