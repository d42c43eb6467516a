"""Progress payloads exactly as SPEC section 3 shows them, and their delivery.

The session layer wraps each payload into a ``vector_loading_progress`` frame; the loader only
builds the dicts and hands them, in order, to the session's callback (sync or async).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from s5vec.errors import S5VecError

logger = logging.getLogger(__name__)

ProgressEvent = dict[str, Any]
ProgressCallback = Callable[[ProgressEvent], Awaitable[None] | None]


def manifest_downloaded(vector_count: int, chunk_count: int) -> ProgressEvent:
    """The manifest was fetched, decoded and accepted."""
    return {
        "event": "manifest_downloaded",
        "message": f"Manifest downloaded: {vector_count} vectors in {chunk_count} chunks",
    }


def chunk_downloaded(chunk_id: int, done: int, total: int) -> ProgressEvent:
    """One more manifest chunk is in the index; ``percent`` counts chunks done, not the id."""
    percent = 100 * done // total
    return {
        "event": "chunk_downloaded",
        "chunk_id": chunk_id,
        "total": total,
        "percent": percent,
        "message": f"Downloading chunks... {percent}% ({done}/{total})",
    }


def index_building(vector_count: int) -> ProgressEvent:
    """Every chunk is in; the index is being finished."""
    return {"event": "index_building", "message": f"Building index for {vector_count} vectors"}


def loading_complete(vector_count: int, duration_ms: int) -> ProgressEvent:
    """The database is searchable (the ANN graph may still be building in the background)."""
    return {
        "event": "loading_complete",
        "vector_count": vector_count,
        "duration_ms": duration_ms,
        "message": f"Loaded {vector_count} vectors in {duration_ms} ms",
    }


def loading_error(error: S5VecError) -> ProgressEvent:
    """The load failed with ``error``'s wire code and user message."""
    return {
        "event": "loading_error",
        "error_code": error.code,
        "error": error.message,
        "message": f"Loading failed: {error.message}",
    }


async def deliver(callback: ProgressCallback, event: ProgressEvent) -> None:
    """Hand ``event`` to ``callback``, awaiting it if async.

    A failing callback (a closed socket, say) is logged and otherwise ignored: the session
    layer notices the disconnect and cancels the load; the load itself must not fail for it.
    """
    try:
        result = callback(event)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.warning("progress callback failed for %s", event.get("event"), exc_info=True)
