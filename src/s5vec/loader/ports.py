"""The seams to the index and the cache, typed structurally.

The index and the cache sit above the loader in the layering (errors -> formats -> storage ->
loader -> index + cache), so the loader never imports them: it states here what it needs,
and the server injects ``index.DatabaseIndex`` (through an ``IndexFactory``),
``cache.IndexCache`` and, optionally, ``cache.PersistedIndexes``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from s5vec.loader.events import ProgressEvent


class BuildingIndex(Protocol):
    """A database index being filled: the part of ``index.DatabaseIndex`` the loader uses."""

    def add_chunk(
        self, ids: list[str], vectors: npt.NDArray[np.float32], metadata: list[dict[str, Any]]
    ) -> None:
        """Append one chunk (thread-safe: several worker threads add at once); ``ChunkParseError``
        when an id repeats one of an earlier chunk (``decode_chunk`` refused repeats in one)."""
        ...

    def finish(self) -> None:
        """Make the index searchable now (exact search); any ANN graph builds later."""
        ...

    @property
    def dimensions(self) -> int | None:
        """Vector length (None for a database with no vectors and no ``dimensions``)."""
        ...

    def memory_bytes(self) -> int:
        """Bytes the index holds."""
        ...

    def close(self) -> None:
        """Free the index's memory; it is unusable afterwards."""
        ...


IndexFactory = Callable[[int | None, int], BuildingIndex]
"""``make(dimensions, expected_vectors)``: an empty index; ``dimensions`` is None only for a
database with no vectors and no ``dimensions`` (the server binds the index config)."""

Publish = Callable[[ProgressEvent], None]
"""Hands one progress event to everyone following a load (synchronous, cheap)."""

IndexT = TypeVar("IndexT", bound=BuildingIndex)
IndexT_co = TypeVar("IndexT_co", bound=BuildingIndex, covariant=True)
KeyT = TypeVar("KeyT", bound=Hashable)
KeyT_contra = TypeVar("KeyT_contra", bound=Hashable, contravariant=True)


class IndexLease(Protocol[IndexT_co]):
    """One session's hold on a shared index (``cache.Lease``)."""

    @property
    def source(self) -> Literal["cache", "load", "shared"]:
        """A cache hit, this caller's own load, or a load another caller started."""
        ...

    @property
    def value(self) -> IndexT_co:
        """The leased index."""
        ...

    def release(self) -> None:
        """Give the index back (idempotent)."""
        ...


class SharedIndexCache(Protocol[KeyT, IndexT]):
    """Single-flight cache of built indexes (``cache.IndexCache``)."""

    def key_for(self, manifest_path: str, session_key: bytes | None, manifest_bytes: bytes) -> KeyT:
        """The key of a database read with ``session_key`` (None: its files are plaintext)."""
        ...

    def acquire(self, key: KeyT) -> IndexLease[IndexT] | None:
        """A lease on the cached index, or None; never starts a load."""
        ...

    async def get_or_load(
        self,
        key: KeyT,
        loader: Callable[[Publish], Awaitable[IndexT]],
        on_progress: Publish | None = None,
    ) -> IndexLease[IndexT]:
        """Cached, joined from a load in flight (progress replayed), or loaded now."""
        ...


class PersistedIndexes(Protocol[KeyT_contra, IndexT]):
    """Indexes saved on disk by an earlier run (``cache.PersistedIndexes``)."""

    async def restore(self, key: KeyT_contra, session_key: bytes | None) -> IndexT | None:
        """The searchable index saved for ``key`` read with ``session_key``, or None.

        None for nothing saved, a damaged file, or one this key cannot open: never an index
        built with another key. Never raises.
        """
        ...

    def save_later(self, key: KeyT_contra, index: IndexT, session_key: bytes | None) -> None:
        """Save a freshly built index in the background; never blocks, never raises."""
        ...
