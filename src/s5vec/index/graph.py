"""The HNSW graph of a database (usearch), built on a background thread after loading.

The graph references the store's RAM vectors (``copy=False``) rather than holding a second
copy, and is built without usearch's key table (keys are row numbers): measured per 100K
rows that is ~15 MB at connectivity 12 (~21 MB at 16) instead of ~64 MB for an i8 copy of
the vectors plus keys.
Cancelling goes through usearch's progress callback, so a close interrupts the build within
one insertion instead of waiting for it (100K rows take one to four minutes on one core).
"""

# No ``from __future__ import annotations`` here: usearch compares the progress callback's
# annotations with the real ``int`` and ``bool`` types.

import threading
import time
from collections.abc import Callable

import numpy as np
from usearch.index import Index

from s5vec.index.config import IndexConfig
from s5vec.index.store import F32, Rows, VectorStore


class Graph:
    """A built HNSW graph over the rows of a :class:`VectorStore`."""

    def __init__(self, index: Index, store: VectorStore, threads: int) -> None:
        self._index = index
        self._store = store  # keeps the vectors the graph points into alive
        self._threads = threads
        # usearch releases the GIL while searching but gives every call search context 0
        # (and re-reserves contexts): concurrent calls on one index would share scratch state.
        self._lock = threading.Lock()

    def search(self, unit_query: F32, count: int) -> Rows:
        """Return about the ``count`` nearest rows, best first (approximate)."""
        query = self._store.encode(unit_query)
        with self._lock:
            found = self._index.search(query, count, threads=self._threads)
        rows: Rows = found.keys.astype(np.int64)
        return rows

    def nbytes(self) -> int:
        """Bytes held by the graph (the vectors belong to the store)."""
        return int(self._index.memory_usage)


OnBuilt = Callable[[Graph | None, BaseException | None, float], None]
"""Called once from the build thread: (graph, None, seconds) or (None, error, seconds)."""


class GraphBuild:
    """A cancellable background build of a :class:`Graph`."""

    def __init__(self, store: VectorStore, config: IndexConfig, on_built: OnBuilt) -> None:
        self._store = store
        self._config = config
        self._on_built = on_built
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="s5vec-graph-build", daemon=True)

    def start(self) -> None:
        """Start building."""
        self._thread.start()

    def cancel(self, timeout: float | None = None) -> None:
        """Stop the build and wait (up to ``timeout``) for its thread to end."""
        self._cancel.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _keep_going(self, done: int, total: int) -> bool:
        """usearch progress callback: returning False aborts the insertion."""
        return not self._cancel.is_set()

    def _run(self) -> None:
        """Build, then report the graph or the error (nothing when cancelled)."""
        started = time.monotonic()
        cfg = self._config
        graph = None
        error: BaseException | None = None
        try:
            index = Index(
                ndim=self._store.dimensions,
                metric="cos",
                dtype=self._store.quantization,
                connectivity=cfg.connectivity,
                expansion_add=cfg.expansion_add,
                expansion_search=cfg.expansion_search,
                enable_key_lookups=False,
            )
            keys = np.arange(len(self._store), dtype=np.uint64)
            index.add(
                keys,
                self._store.ram,
                copy=False,
                threads=cfg.build_threads,
                progress=self._keep_going,
            )
            graph = Graph(index, self._store, cfg.search_threads)
        except Exception as exc:  # usearch reports every failure, cancellation too, this way
            error = exc
        if not self._cancel.is_set():
            self._on_built(graph, error, time.monotonic() - started)
