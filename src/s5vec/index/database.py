"""The read-only index of a loaded S5 database (SPEC sections 3, 9 and 10).

Chunks arrive through ``add_chunk``, from several loader threads at once; ``finish`` makes
the index searchable at once with an exact scan, and databases of ``graph_threshold`` rows or
more then get an HNSW graph built on a background thread, swapped in when ready: loading is
never held until a graph exists. Every path proposes ``max(4k, rescore_candidates)`` candidate
rows and re-scores them from the best copy kept, so exact and graph answers agree on scores.
A filtered search scans exactly the rows matching the filter, so it returns the true top-k
among them however few match.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from s5vec.errors import (
    Cancelled,
    ChunkParseError,
    DimensionMismatch,
    IndexBuildFailed,
    InternalError,
    InvalidVector,
    VectorsLoading,
    VectorsNotLoaded,
)
from s5vec.index.config import IndexConfig
from s5vec.index.filters import FilterMatcher, MetadataFilter
from s5vec.index.graph import Graph, GraphBuild, OnBuilt
from s5vec.index.heap import release_free_heap
from s5vec.index.records import Records, RecordsBuilder, pack_chunk
from s5vec.index.search import MAX_DIMENSIONS, SearchHit, select_hits, unit_query
from s5vec.index.store import StoreBuilder, VectorStore, normalise, quantise

_BLOCK_ROWS = 2048
"""Rows normalised at once: bounds the float temporaries of one step to a few MB (a chunk's
unit rows and codes are all held until they are appended: ~19 MB per 10K x 384)."""


class DatabaseIndex:
    """Vectors, ids and metadata of one database; searchable after :meth:`finish`."""

    def __init__(
        self,
        dimensions: int | None,
        config: IndexConfig,
        *,
        expected_vectors: int = 0,
        on_graph_built: OnBuilt | None = None,
    ) -> None:
        if dimensions is not None and not 1 <= dimensions <= MAX_DIMENSIONS:
            raise DimensionMismatch(f"Vector dimensions must be from 1 to {MAX_DIMENSIONS}")
        self._dimensions = dimensions
        self._config = config
        self._expected = expected_vectors
        self._on_graph_built = on_graph_built
        self._lock = threading.Lock()  # one writer at a time; finish and close
        self._state = "loading"
        self._records_builder: RecordsBuilder | None = RecordsBuilder()
        self._store_builder: StoreBuilder | None = None
        self._records: Records | None = None
        self._store: VectorStore | None = None
        self._matcher: FilterMatcher | None = None
        self._graph: Graph | None = None
        self._build: GraphBuild | None = None
        self._graph_done = threading.Event()
        self._graph_error: BaseException | None = None
        self._graph_seconds: float | None = None
        self._readers = _Readers()

    # --- loading ---------------------------------------------------------------------------

    def add_chunk(
        self, ids: list[str], vectors: npt.NDArray[np.float32], metadata: list[dict[str, Any]]
    ) -> None:
        """Add one decoded chunk (rows are normalised here).

        Raises ChunkParseError (ragged lengths, a repeated id, bad metadata), DimensionMismatch,
        InvalidVector (NaN or infinity), IndexBuildFailed (the spill file cannot be written)
        and Cancelled once the index is closed.
        """
        if self._state == "closed":  # checked again under the lock; this spares the work
            raise Cancelled()
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or not len(ids) == len(vectors) == len(metadata):
            raise ChunkParseError("A chunk's ids, vectors and metadata do not line up")
        # Everything per row happens before taking the lock, so loader threads validate,
        # normalise and encode chunks in parallel; the lock covers only the appends.
        if len(ids):
            self._check_dimensions(vectors.shape[1], fix=False)
        blocks = [vectors[i : i + _BLOCK_ROWS] for i in range(0, len(vectors), _BLOCK_ROWS)]
        if not all(np.isfinite(block).all() for block in blocks):
            raise InvalidVector()
        records = pack_chunk(ids, metadata)
        units = [normalise(block) for block in blocks]
        codes = [quantise(unit, self._config.quantization) for unit in units]
        with self._lock:
            records_builder = self._still_loading("add_chunk after finish")
            if not len(ids):
                return
            self._check_dimensions(vectors.shape[1])
            records_builder.append(records)
            try:
                self._append_vectors(units, codes)
            except IndexBuildFailed:
                # This chunk's records are in and its vectors are not (or only some): refuse
                # every later add and finish rather than ever serve misaligned rows.
                self._state = "failed"
                raise

    def _still_loading(self, misuse: str) -> RecordsBuilder:
        """The records builder while chunks may still be added (caller holds the lock)."""
        if self._state == "closed":
            raise Cancelled()
        if self._state == "failed":
            raise IndexBuildFailed("An earlier chunk could not be stored")
        if self._state != "loading" or self._records_builder is None:
            raise InternalError(misuse)
        return self._records_builder

    def _append_vectors(self, units: list[npt.NDArray[np.float32]], codes: list[Any]) -> None:
        """Append a chunk's unit rows and codes; IndexBuildFailed when the disk refuses."""
        if self._store_builder is None:
            self._store_builder = self._new_store_builder(units[0].shape[1])
        try:
            for unit, code in zip(units, codes, strict=True):
                self._store_builder.append(unit, code)
        except OSError:
            raise IndexBuildFailed("Could not write vectors to the data directory") from None

    def finish(self) -> None:
        """Make the index searchable now; start the graph build when it is large enough."""
        with self._lock:
            records = self._still_loading("finish called twice").finish()
            self._records_builder = None
            store = self._store_builder.finish() if self._store_builder is not None else None
            self._store_builder = None
            self._records, self._store = records, store
            self._matcher = FilterMatcher(len(records), records.field_values)
            self._state = "ready"
            if store is not None and len(store) >= self._config.graph_threshold:
                self._build = GraphBuild(store, self._config, self._graph_built)
                self._build.start()
            else:
                self._graph_done.set()
        release_free_heap()

    def _check_dimensions(self, dimensions: int, *, fix: bool = True) -> None:
        """DimensionMismatch unless ``dimensions`` fits; with ``fix`` the first one is kept."""
        if not 1 <= dimensions <= MAX_DIMENSIONS:
            raise DimensionMismatch(f"Vector dimensions must be from 1 to {MAX_DIMENSIONS}")
        if self._dimensions is None:
            if fix:
                self._dimensions = dimensions
        elif dimensions != self._dimensions:
            raise DimensionMismatch(
                f"A chunk holds {dimensions}-dimensional vectors; expected {self._dimensions}"
            )

    def _new_store_builder(self, dimensions: int) -> StoreBuilder:
        """Create the vector store builder once the dimension is known."""
        cfg = self._config
        try:
            return StoreBuilder(
                dimensions, cfg.quantization, cfg.spill_dir, cfg.search_threads, self._expected
            )
        except OSError:
            raise IndexBuildFailed("Could not create a file in the data directory") from None

    def _graph_built(self, graph: Graph | None, error: BaseException | None, secs: float) -> None:
        """Build-thread callback: swap the graph in (one reference assignment)."""
        self._graph, self._graph_error, self._graph_seconds = graph, error, secs
        release_free_heap()  # the build thread's malloc arena keeps the insertion scratch
        self._graph_done.set()
        if self._on_graph_built is not None:
            self._on_graph_built(graph, error, secs)

    # --- searching -------------------------------------------------------------------------

    def search(
        self,
        query: npt.NDArray[np.float32],
        k: int,
        threshold: float | None = None,
        flt: MetadataFilter | None = None,
    ) -> list[SearchHit]:
        """Return the top ``k`` hits by cosine with ``score >= threshold`` matching ``flt``.

        Raises VectorsLoading before :meth:`finish`, VectorsNotLoaded after :meth:`close`,
        InvalidMessage for a query of the wrong dimension or zero length.
        """
        with self._readers.reading():
            if self._state == "loading":
                raise VectorsLoading()
            store, records, graph = self._store, self._records, self._graph
            if store is None or records is None or self._matcher is None or not len(store):
                return []
            unit = self._unit_query(query)
            want = max(4 * k, self._config.rescore_candidates)
            if flt is not None:
                mask = self._matcher.mask(flt)
                candidates = _filtered_candidates(store, unit, want, mask)
            elif graph is not None:
                candidates = graph.search(unit, want)
            else:
                candidates = store.scan(unit, want)
            # Sorted and unique: nearby file offsets when re-scoring. (np.unique would import
            # numpy.ma lazily, costing the first search of a process ~100 ms.)
            if not len(candidates):
                return []
            candidates = np.sort(candidates)
            candidates = candidates[np.concatenate(([True], candidates[1:] != candidates[:-1]))]
            scores = store.rescore(unit, candidates)
            return select_hits(
                candidates,
                scores,
                k,
                threshold,
                lambda row, score: SearchHit(records.id(row), score, records.metadata(row)),
            )

    def _unit_query(self, query: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The query as a unit float32 vector; InvalidMessage when unusable."""
        return unit_query(query, self._dimensions, "the vectors")

    # --- state -----------------------------------------------------------------------------

    def __len__(self) -> int:
        if self._records is not None:
            return len(self._records)
        builder = self._records_builder
        return len(builder) if builder is not None else 0

    @property
    def dimensions(self) -> int | None:
        """Vector length (None until the first chunk when not given)."""
        return self._dimensions

    @property
    def graph_ready(self) -> bool:
        """Whether searches use the HNSW graph."""
        return self._graph is not None

    @property
    def graph_error(self) -> BaseException | None:
        """Why the graph build failed (searches stay exact), or None."""
        return self._graph_error

    @property
    def graph_build_seconds(self) -> float | None:
        """How long the graph build took, once it has ended."""
        return self._graph_seconds

    def wait_for_graph(self, timeout: float | None = None) -> bool:
        """Wait until no graph build is pending; return whether a graph is in use."""
        self._graph_done.wait(timeout)
        return self.graph_ready

    def memory_bytes(self) -> int:
        """Estimate of resident bytes: vectors, graph, ids, metadata and filter columns."""
        total = 0
        for part in (self._store, self._records, self._graph, self._matcher):
            total += part.nbytes() if part is not None else 0
        for builder in (self._store_builder, self._records_builder):
            total += builder.nbytes() if builder is not None else 0
        return total

    def close(self) -> None:
        """Stop the graph build, delete the spill file and drop every vector. Idempotent."""
        self._readers.close()  # waits for running searches; later ones get VectorsNotLoaded
        with self._lock:
            self._state = "closed"
            build, self._build = self._build, None
        if build is not None:
            build.cancel()  # joins; the build publishes nothing once cancelled
        with self._lock:
            if self._store is not None:
                self._store.close()
            if self._store_builder is not None:
                self._store_builder.discard()
            self._graph = self._store = self._records = self._matcher = None
            self._store_builder = self._records_builder = None
            self._graph_done.set()
        # close may run on the event loop (a cache eviction, a session's last lease): a full
        # collection there would stall every session, so only the heap is trimmed.
        release_free_heap(collect=False)


def _filtered_candidates(
    store: VectorStore,
    unit: npt.NDArray[np.float32],
    want: int,
    mask: npt.NDArray[np.bool_],
) -> npt.NDArray[np.int64]:
    """Candidate rows among those in ``mask``: the true top ``want`` of the matching rows.

    A filtered search must return the true top-k among matching vectors (SPEC section 4), so
    the approximate graph is never used here. When at least half the rows match, the exact
    unfiltered top ``4 * want`` is expected to hold ``want`` matching rows, and if it does,
    those are exactly the matching rows' top; otherwise exactly the matching rows are scanned.
    """
    rows = np.flatnonzero(mask)
    if 2 * len(rows) >= len(store):
        found = store.scan(unit, min(len(store), 4 * want))
        found = found[mask[found]]
        if len(found) >= min(want, len(rows)):
            return found
    return store.scan(unit, want, rows)


class _Readers:
    """Counts searches in flight so close can wait for them before freeing memory."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._closed = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the index open for one search; VectorsNotLoaded once closed."""
        with self._cond:
            if self._closed:
                raise VectorsNotLoaded("The vector database was closed")
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def close(self) -> None:
        """Refuse new searches and wait for running ones."""
        with self._cond:
            self._closed = True
            self._cond.wait_for(lambda: self._active == 0)
