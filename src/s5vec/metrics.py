"""Prometheus metrics (SPEC section 8), owned by one ``Metrics`` object per app.

``Metrics`` holds its own ``CollectorRegistry`` (never the global default one), so two apps
in one process, as in tests, count separately. It is the loader's ``LoadObserver`` and the
sessions' ``SessionObserver`` (structurally: it imports neither protocol). Label values come
from small fixed sets (wire error codes, load outcomes); never paths, addresses or keys.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from s5vec.loader.observer import Outcome

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The ``Content-Type`` of :meth:`Metrics.exposition`."""

_DOWNLOAD_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_BUILD_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_LOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_SEARCH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)


class Metrics:
    """Every s5vec metric in one registry; the observer callbacks update them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # Resident memory and CPU of this process, for the memory alert and dashboard panel.
        ProcessCollector(registry=r)
        self.download_duration = Histogram(
            "s5_download_duration_seconds",
            "Duration of one storage file fetch, retries included",
            buckets=_DOWNLOAD_BUCKETS,
            registry=r,
        )
        self.download_errors = Counter(
            "s5_download_errors_total",
            "Storage file fetches that failed, by error code",
            ["code"],
            registry=r,
        )
        self.vectors_loaded = Counter(
            "s5_vectors_loaded_total", "Vectors that entered an index from storage", registry=r
        )
        self.index_build_duration = Histogram(
            "vector_index_build_duration_seconds",
            "Time to make a loaded index searchable",
            buckets=_BUILD_BUCKETS,
            registry=r,
        )
        self.graph_build_duration = Histogram(
            "vector_index_graph_build_duration_seconds",
            "Time to build an ANN graph in the background after loading",
            buckets=_BUILD_BUCKETS,
            registry=r,
        )
        self.graph_build_failures = Counter(
            "vector_index_graph_build_failures_total",
            "ANN graph builds that failed (searches stay exact)",
            registry=r,
        )
        self.cache_hits = Counter(
            "vector_index_cache_hits_total", "Loads served from the index cache", registry=r
        )
        self.cache_misses = Counter(
            "vector_index_cache_misses_total",
            "Loads not served from the index cache (loaded or joined)",
            registry=r,
        )
        self.loading = Counter(
            "vector_loading_total", "Finished loads by outcome", ["outcome"], registry=r
        )
        self.loading_duration = Histogram(
            "vector_loading_duration_seconds",
            "Duration of a session's load, init ack to searchable (or failure)",
            buckets=_LOAD_BUCKETS,
            registry=r,
        )
        self.search_duration = Histogram(
            "vector_search_duration_seconds",
            "Duration of one searchVectors request",
            buckets=_SEARCH_BUCKETS,
            registry=r,
        )
        self.active_sessions = Gauge("active_sessions", "Sessions open on this host", registry=r)
        for outcome in Outcome:  # every outcome is exported from the start, at 0
            self.loading.labels(outcome=outcome.value)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)

    # --- LoadObserver -------------------------------------------------------------------

    def on_download(self, seconds: float, error_code: str | None) -> None:
        """Record one file fetch and, if it failed, its error code."""
        self.download_duration.observe(seconds)
        if error_code is not None:
            self.download_errors.labels(code=error_code).inc()

    def on_vectors_loaded(self, count: int) -> None:
        """Count vectors that entered an index."""
        self.vectors_loaded.inc(count)

    def on_index_finished(self, seconds: float) -> None:
        """Record how long making an index searchable took."""
        self.index_build_duration.observe(seconds)

    def on_load_finished(self, outcome: Outcome, seconds: float) -> None:
        """Count a finished load by outcome and record its duration."""
        self.loading.labels(outcome=outcome.value).inc()
        self.loading_duration.observe(seconds)

    def on_cache_hit(self) -> None:
        """Count a load served from the cache."""
        self.cache_hits.inc()

    def on_cache_miss(self) -> None:
        """Count a load that was not served from the cache."""
        self.cache_misses.inc()

    # --- DatabaseIndex ------------------------------------------------------------------

    def on_graph_built(self, graph: object, error: BaseException | None, seconds: float) -> None:
        """An index's background graph build ended (called from its build thread)."""
        if error is not None:
            self.graph_build_failures.inc()
        elif graph is not None:
            self.graph_build_duration.observe(seconds)

    # --- SessionObserver ----------------------------------------------------------------

    def on_session_opened(self) -> None:
        """A connection acknowledged its first session."""
        self.active_sessions.inc()

    def on_session_closed(self) -> None:
        """A connection holding a session closed."""
        self.active_sessions.dec()

    def on_search(self, seconds: float) -> None:
        """Record one answered search."""
        self.search_duration.observe(seconds)
