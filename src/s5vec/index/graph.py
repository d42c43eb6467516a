"""The HNSW graph of a database (usearch), built on a background thread after loading.

The graph references the store's RAM vectors (``copy=False``) rather than holding a second
copy, and is built without usearch's key table (keys are row numbers): measured per 100K
rows that is ~15 MB at connectivity 12 (~21 MB at 16) instead of ~64 MB for an i8 copy of
the vectors plus keys. Lowering the connectivity saves nothing from 12 down to 7: usearch pads
each node to 64 bytes, and a base-level node holds 14 bytes plus 2 x connectivity 4-byte links
(measured 13.6-14.1 MiB per 100K rows for 7-12, 8.4 MiB at 6, where recall@10 fell to 0.81).
Rows go in batches of ``BUILD_BATCH``, and a close stops the build between two batches
instead of waiting for all of it (100K rows take 45 s to minutes on one core, 0.5-3 ms per
row, so a close waits 30-180 ms at most). usearch's progress callback would stop it within
one row, but it runs Python once per row: 100K GIL acquisitions, each waiting up to the
interpreter's switch interval while loader threads or the event loop hold the GIL.
"""

import threading
import time
from collections.abc import Callable

import numpy as np
from usearch.index import Index

from s5vec.index.config import IndexConfig
from s5vec.index.store import F32, Rows, VectorStore

BUILD_BATCH = 64
"""Rows inserted per usearch call: how far a cancelled build can run on."""


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
            rows = len(self._store)
            for start in range(0, rows, BUILD_BATCH):
                if self._cancel.is_set():
                    return
                stop = min(rows, start + BUILD_BATCH)
                index.add(
                    np.arange(start, stop, dtype=np.uint64),
                    self._store.ram[start:stop],
                    copy=False,
                    threads=cfg.build_threads,
                )
            graph = Graph(index, self._store, cfg.search_threads)
        except Exception as exc:  # usearch reports every failure this way
            error = exc
        if not self._cancel.is_set():
            self._on_built(graph, error, time.monotonic() - started)
