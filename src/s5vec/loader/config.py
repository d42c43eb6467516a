"""The loader's own settings: the server builds one from ``Settings`` (SPEC section 8)."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class LoaderConfig:
    """Limits of one load; defaults are the SPEC section 8 defaults."""

    max_parallel_chunks: int = 10
    """``S5_MAX_PARALLEL_CHUNKS``: chunk fetches (and decodes) of one load in flight at once."""
    download_timeout_s: float = 30.0
    """``S5_DOWNLOAD_TIMEOUT_SECONDS``: remote backends bound each attempt by it themselves (and
    retry); the loader bounds each read of a non-remote backend by it, which has none."""
    loading_timeout_s: float = 300.0
    """``S5_LOADING_TIMEOUT_MINUTES`` x 60: the whole load, manifest to searchable index."""
    memory_limit_bytes: int = 500 * MIB
    """``VECTOR_MEMORY_LIMIT_MB`` in bytes: the pre-flight bound of one database."""

    def __post_init__(self) -> None:
        if self.max_parallel_chunks < 1:
            raise ValueError("max_parallel_chunks must be at least 1")
        if self.download_timeout_s <= 0 or self.loading_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        if self.memory_limit_bytes < 0:
            raise ValueError("memory_limit_bytes must not be negative")
