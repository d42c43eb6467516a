"""Observability seam: metrics implement ``LoadObserver``; the loader never imports them."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    """How a load ended (the ``outcome`` label of ``vector_loading_total``)."""

    SUCCESS = "success"
    FAILURE = "failure"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


class LoadObserver(Protocol):
    """Callbacks the loader makes; all synchronous and cheap (they run on the event loop)."""

    def on_download(self, seconds: float, error_code: str | None) -> None:
        """One file fetch ended: ``error_code`` is None on success, else the error's code."""

    def on_vectors_loaded(self, count: int) -> None:
        """``count`` vectors entered an index (once per chunk)."""

    def on_index_finished(self, seconds: float) -> None:
        """The index became searchable; ``seconds`` is the time ``finish()`` took."""

    def on_load_finished(self, outcome: Outcome, seconds: float) -> None:
        """A session's load ended (one call per ``load()``, cache hits included)."""

    def on_cache_hit(self) -> None:
        """A session's database was already built and cached."""

    def on_cache_miss(self) -> None:
        """A session's database had to be loaded (or joined a load in flight)."""


class NullObserver:
    """The default observer: records nothing."""

    def on_download(self, seconds: float, error_code: str | None) -> None:
        """Ignore a file fetch."""

    def on_vectors_loaded(self, count: int) -> None:
        """Ignore loaded vectors."""

    def on_index_finished(self, seconds: float) -> None:
        """Ignore an index finish."""

    def on_load_finished(self, outcome: Outcome, seconds: float) -> None:
        """Ignore a finished load."""

    def on_cache_hit(self) -> None:
        """Ignore a cache hit."""

    def on_cache_miss(self) -> None:
        """Ignore a cache miss."""
