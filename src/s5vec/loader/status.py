"""Per-session load status: ``not_started -> loading -> loaded | error`` (SPEC section 3)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class LoadState(StrEnum):
    """Where a session's database load stands."""

    NOT_STARTED = "not_started"
    LOADING = "loading"
    LOADED = "loaded"
    ERROR = "error"


@dataclass(slots=True)
class LoadStatus:
    """Mutable status of one session's load, read by the search path without waiting."""

    state: LoadState = LoadState.NOT_STARTED
    vector_count: int | None = None
    load_time_ms: int | None = None
    error_code: str | None = None
    error_message: str | None = None

    def mark_loading(self) -> None:
        """Enter ``loading``; only from ``not_started`` (a status serves one load)."""
        if self.state is not LoadState.NOT_STARTED:
            raise RuntimeError(f"cannot start loading from state {self.state}")
        self.state = LoadState.LOADING

    def mark_loaded(self, vector_count: int, load_time_ms: int) -> None:
        """Enter ``loaded`` with what the searchable index holds."""
        self._require_loading()
        self.state = LoadState.LOADED
        self.vector_count = vector_count
        self.load_time_ms = load_time_ms

    def mark_error(self, code: str, message: str) -> None:
        """Enter ``error`` with the load's wire code and user message."""
        self._require_loading()
        self.state = LoadState.ERROR
        self.error_code = code
        self.error_message = message

    def to_dict(self) -> dict[str, Any]:
        """``{"state", ...}`` with the fields of the current state only."""
        if self.state is LoadState.LOADED:
            return {
                "state": self.state.value,
                "vector_count": self.vector_count,
                "load_time_ms": self.load_time_ms,
            }
        if self.state is LoadState.ERROR:
            return {
                "state": self.state.value,
                "code": self.error_code,
                "message": self.error_message,
            }
        return {"state": self.state.value}

    def _require_loading(self) -> None:
        if self.state is not LoadState.LOADING:
            raise RuntimeError(f"cannot finish a load from state {self.state}")
