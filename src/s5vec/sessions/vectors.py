"""``uploadVectors`` and ``searchVectors`` on a session (SPEC section 4).

Uploads and searches work beside the S5 flow: on a session without a database, on one
whose database loads, or merged with a loaded one. The work itself (per-vector validation,
scoring) runs on the vector worker threads, except searches known to be quick: an unfiltered
search with a small ``k`` over an HNSW graph or a few thousand rows takes ~0.1-1.5 ms (100K x
384), and handing it to a worker thread and back costs ~0.2-0.6 ms of thread wake-ups on the
2-core target. Such a search holds the event loop about as long as decoding a frame of a few
hundred KB does, which the loop does too. Measured at 100K with four other sessions searching
without pause: one client's p50 5-10 ms inline against 9-15 ms offloaded, and 370-640 against
250-370 searches/s in all (the worker threads mostly queued on the GIL).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from s5vec.errors import InvalidMessage, VectorsNotLoaded
from s5vec.index import (
    DatabaseIndex,
    MetadataFilter,
    Searchable,
    UploadedVectors,
    merged_search,
    parse_filter,
    validate_query,
)
from s5vec.sessions import frames
from s5vec.sessions.messages import (
    ReplyContext,
    SearchVectorsMessage,
    UploadVectorsMessage,
    decode,
)
from s5vec.sessions.services import Services
from s5vec.sessions.session import Session

QUICK_SEARCH_ROWS = 4096
"""Sources up to this size are scanned on the event loop (~0.3 ms for i8 codes, 0.5 ms f32)."""
QUICK_SEARCH_K = 25
"""Up to this ``k`` a graph search re-scores at most 100 candidates (~1.5 ms in all)."""


async def upload(
    session: Session, message: Mapping[str, Any], ctx: ReplyContext, services: Services
) -> frames.Frame:
    """Store the message's vectors in the session; reply ``uploadVectorsResponse``.

    Raises InvalidMessage (ill-typed, or more vectors than one message may carry) and
    MemoryLimitExceeded (the session would pass ``max_uploaded_vectors``; nothing changes).
    """
    request = decode(message, UploadVectorsMessage)
    limit = services.config.max_vectors_per_upload
    if len(request.vectors) > limit:
        raise InvalidMessage(
            f"uploadVectors: at most {limit} vectors per message, got {len(request.vectors)}"
        )
    store = _upload_store(session, await session.loaded_database(), request.replace, services)
    result = await services.offload(store.add, request.vectors, replace=request.replace)
    if store is not session.uploads:
        old, session.uploads = session.uploads, store
        old.clear()
    return frames.upload_response(ctx, result)


def _upload_store(
    session: Session, database: DatabaseIndex | None, replace: bool, services: Services
) -> UploadedVectors:
    """The store to add to: a fresh one pinned to the loaded database's dimension when the
    current one is empty or being replaced, so uploads of another length are rejected."""
    dimensions = database.dimensions if database is not None else None
    if dimensions is None or not (replace or session.uploads.dimensions is None):
        # Uploads made while the database loaded keep their own length; a search then
        # names the mismatch and ``replace: true`` starts over at the database's length.
        return session.uploads
    return UploadedVectors(services.config.max_uploaded_vectors, dimensions)


async def search(
    session: Session, message: Mapping[str, Any], ctx: ReplyContext, services: Services
) -> frames.Frame:
    """Search the loaded database and the uploads together; reply ``searchVectorsResponse``.

    Raises InvalidMessage (ill-typed, ``k``, ``threshold``, query or filter invalid),
    VectorsLoading / the load's own error / VectorsNotLoaded when a named database cannot be
    searched yet, and VectorsNotLoaded when there is nothing at all to search.
    """
    request = decode(message, SearchVectorsMessage)
    flt = parse_filter(request.metadata_filter) if request.metadata_filter is not None else None
    database = await session.searchable_database()
    uploads = session.uploads
    if database is None and not len(uploads):
        raise VectorsNotLoaded(
            "There are no vectors to search: upload vectors or open a session with a database"
        )
    dimensions = (
        (database.dimensions if database is not None else None)
        or uploads.dimensions
        or len(request.query_vector)  # an empty database: only k, threshold and finiteness
    )
    query = validate_query(request.query_vector, dimensions, request.k, request.threshold)
    sources: list[Searchable] = [s for s in (database, uploads) if s is not None and len(s)]
    started = time.perf_counter()
    if is_quick(sources, request.k, flt):
        hits = merged_search(sources, query, request.k, request.threshold, flt)
    else:
        hits = await services.offload(
            merged_search, sources, query, request.k, request.threshold, flt
        )
    seconds = time.perf_counter() - started
    services.observer.on_search(seconds)
    total = sum(len(source) for source in sources)
    return frames.search_response(ctx, hits, total, round(seconds * 1000, 3))


def is_quick(sources: list[Searchable], k: int, flt: MetadataFilter | None) -> bool:
    """Whether a search is cheap enough to run on the event loop instead of a worker thread.

    Filtered searches scan every matching row and a large ``k`` re-scores ``4k`` candidates,
    so those always go to a worker; otherwise each source must be small or a database whose
    graph is in.
    """
    if flt is not None or k > QUICK_SEARCH_K:
        return False
    return all(
        len(source) <= QUICK_SEARCH_ROWS
        or (isinstance(source, DatabaseIndex) and source.graph_ready)
        for source in sources
    )
