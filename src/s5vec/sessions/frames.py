"""Frames the host sends over the WebSocket (SPEC sections 2-4), each declared once.

``session_init_ack``, ``error`` and ``vector_loading_progress`` are snake_case;
``uploadVectorsResponse`` and ``searchVectorsResponse`` are camelCase. ``id`` is echoed only
when the client's message had one (``UNSET`` fields are left out of the frame). Each builder
returns the plain dict handed to the connection's ``send``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from s5vec.index import SearchHit, UploadResult
from s5vec.loader import ProgressEvent
from s5vec.sessions.messages import ReplyContext

Frame = dict[str, Any]


class SessionInitAck(msgspec.Struct, tag="session_init_ack", tag_field="type", kw_only=True):
    """The reply to a valid init, sent before any loading starts."""

    status: str = "success"
    session_id: str
    job_id: Any = None
    chain_id: Any = None
    client_address: Any = msgspec.UNSET
    """The recovered signer, on every encrypted init (absent on plain ones)."""
    message: str
    id: Any = msgspec.UNSET


class ErrorFrame(msgspec.Struct, tag="error", tag_field="type", kw_only=True):
    """``error``: init errors carry ``session_id``, vector errors ``requestId``."""

    code: str
    message: str
    session_id: Any = msgspec.UNSET
    request_id: Any = msgspec.field(default=msgspec.UNSET, name="requestId")
    id: Any = msgspec.UNSET


class LoadingProgress(msgspec.Struct, tag="vector_loading_progress", tag_field="type"):
    """One loader progress event of one session."""

    session_id: str
    payload: ProgressEvent


class UploadVectorsResponse(
    msgspec.Struct, tag="uploadVectorsResponse", tag_field="type", kw_only=True, rename="camel"
):
    """The outcome of ``uploadVectors``: counts plus one entry per rejected vector."""

    request_id: Any
    status: str
    uploaded: int
    rejected: int
    errors: list[dict[str, Any]]
    id: Any = msgspec.UNSET


class SearchVectorsResponse(
    msgspec.Struct, tag="searchVectorsResponse", tag_field="type", kw_only=True, rename="camel"
):
    """Search results, best first, over the database and uploads together."""

    request_id: Any
    results: list[SearchHit]
    total_vectors: int
    search_time_ms: float
    id: Any = msgspec.UNSET


def ack(
    ctx: ReplyContext,
    session_id: str,
    job_id: Any,
    chain_id: Any,
    message: str,
    client_address: str | None = None,
) -> Frame:
    """``session_init_ack``; ``client_address`` is given for encrypted inits only."""
    return _plain(
        SessionInitAck(
            session_id=session_id,
            job_id=job_id,
            chain_id=chain_id,
            client_address=msgspec.UNSET if client_address is None else client_address,
            message=message,
            id=ctx.id,
        )
    )


def error(ctx: ReplyContext, code: str, message: str) -> Frame:
    """``error`` echoing what ``ctx`` read from the message."""
    return _plain(
        ErrorFrame(
            code=code,
            message=message,
            session_id=ctx.session_id,
            request_id=ctx.request_id,
            id=ctx.id,
        )
    )


def progress(session_id: str, event: ProgressEvent) -> Frame:
    """``vector_loading_progress`` wrapping one loader event."""
    return _plain(LoadingProgress(session_id, event))


def upload_response(ctx: ReplyContext, result: UploadResult) -> Frame:
    """``uploadVectorsResponse`` for ``result``."""
    return _plain(
        UploadVectorsResponse(
            request_id=ctx.request_id,
            status=result.status,
            uploaded=result.uploaded,
            rejected=result.rejected,
            errors=result.errors,
            id=ctx.id,
        )
    )


def search_response(
    ctx: ReplyContext, hits: list[SearchHit], total_vectors: int, search_time_ms: float
) -> Frame:
    """``searchVectorsResponse``."""
    return _plain(
        SearchVectorsResponse(
            request_id=ctx.request_id,
            results=hits,
            total_vectors=total_vectors,
            search_time_ms=search_time_ms,
            id=ctx.id,
        )
    )


def _plain(frame: msgspec.Struct) -> Frame:
    built: Frame = msgspec.to_builtins(frame)
    return built
