"""What the sessions layer is given: its settings, a metrics seam and a logger seam.

The server builds ``SessionConfig`` from its settings and implements ``SessionObserver`` with
its metrics; the sessions layer never imports config, metrics or the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Per-session limits and policies (SPEC sections 2 and 4); defaults are the SPEC's."""

    require_signer_match: bool = True
    """``S5VEC_REQUIRE_SIGNER_MATCH``: an encrypted init's ``userAddress`` must be its signer."""
    max_uploaded_vectors: int = 100_000
    """``S5VEC_MAX_UPLOADED_VECTORS``: uploaded vectors one session may hold."""
    max_vectors_per_upload: int = 1000
    """Vectors in one ``uploadVectors`` message; more is ``INVALID_MESSAGE``."""
    worker_threads: int = 2
    """Threads that run searches and upload validation off the event loop (shared by all
    sessions, apart from the loader's decoding threads so searches never queue behind loads)."""

    def __post_init__(self) -> None:
        for name in ("max_uploaded_vectors", "max_vectors_per_upload", "worker_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


class SessionObserver(Protocol):
    """Metrics callbacks; synchronous and cheap (they run on the event loop)."""

    def on_session_opened(self) -> None:
        """A connection acknowledged its first session (``active_sessions`` + 1)."""

    def on_session_closed(self) -> None:
        """A connection holding a session closed (``active_sessions`` - 1)."""

    def on_search(self, seconds: float) -> None:
        """A search was answered in ``seconds`` (``vector_search_duration_seconds``)."""


class NullSessionObserver:
    """The default observer: records nothing."""

    def on_session_opened(self) -> None:
        """Ignore an opened session."""

    def on_session_closed(self) -> None:
        """Ignore a closed session."""

    def on_search(self, seconds: float) -> None:
        """Ignore a search."""


class SessionLogger(Protocol):
    """The part of a structlog bound logger the sessions layer uses (keyword context)."""

    def info(self, event: str, *args: Any, **kw: Any) -> Any:
        """Log ``event`` at info level with ``kw`` as context."""

    def warning(self, event: str, *args: Any, **kw: Any) -> Any:
        """Log ``event`` at warning level with ``kw`` as context."""

    def error(self, event: str, *args: Any, **kw: Any) -> Any:
        """Log ``event`` at error level with ``kw`` as context."""
