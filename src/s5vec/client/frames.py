"""The WebSocket frames of SPEC sections 1-4 as the client sends and receives them.

Casing follows the SPEC exactly: the ``session_init`` family and every frame the host sends
on its own are snake_case; ``uploadVectors`` / ``searchVectors``, their replies and the
encrypted init plaintext are camelCase. Outgoing frames are tagged structs (``type`` is the
tag); incoming frames are decoded to a dict first, so unknown types can be skipped.
"""

from __future__ import annotations

from typing import Any

import msgspec

JsonId = str | int
"""Vector ids as they appear on the wire (databases written by tools may use integers)."""


class VectorDatabase(msgspec.Struct, frozen=True):
    """``vector_database`` of a plain ``session_init`` (snake_case)."""

    manifest_path: str
    user_address: str


class SessionInitFrame(
    msgspec.Struct, tag_field="type", tag="session_init", omit_defaults=True, frozen=True
):
    """Plain ``session_init`` (SPEC 2.1): only plaintext databases can load through it."""

    session_id: str
    id: str
    job_id: JsonId | None = None
    chain_id: JsonId | None = None
    vector_database: VectorDatabase | None = None


class VectorDatabaseCamel(msgspec.Struct, rename="camel", frozen=True):
    """``vectorDatabase`` inside the encrypted init plaintext (camelCase)."""

    manifest_path: str
    user_address: str


class EncryptedInitPlaintext(msgspec.Struct, rename="camel", omit_defaults=True, frozen=True):
    """What ``encrypted_session_init`` seals (SPEC 2.2); holds the session key, never logged."""

    session_key: str
    job_id: str | None = None
    model_name: str | None = None
    price_per_token: int | None = None
    vector_database: VectorDatabaseCamel | None = None
    recovery_public_key: str | None = None

    def __repr__(self) -> str:
        return "EncryptedInitPlaintext(...)"


class EncryptedSessionInitFrame(
    msgspec.Struct, tag_field="type", tag="encrypted_session_init", omit_defaults=True, frozen=True
):
    """``encrypted_session_init``: the sealed payload plus the routing fields in clear."""

    session_id: str
    id: str
    payload: dict[str, str]
    chain_id: JsonId | None = None


class VectorRecord(msgspec.Struct, frozen=True):
    """One vector to upload: ``{"id", "vector", "metadata"}``."""

    id: JsonId
    vector: list[float]
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class UploadVectorsFrame(
    msgspec.Struct, tag_field="type", tag="uploadVectors", rename="camel", frozen=True
):
    """``uploadVectors`` (SPEC 4): at most 1000 vectors per frame."""

    request_id: str
    replace: bool
    vectors: list[VectorRecord]


class SearchVectorsFrame(
    msgspec.Struct,
    tag_field="type",
    tag="searchVectors",
    rename="camel",
    omit_defaults=True,
    frozen=True,
):
    """``searchVectors`` (SPEC 4); ``threshold`` and ``metadataFilter`` are left out when unset."""

    request_id: str
    query_vector: list[float]
    k: int
    threshold: float | None = None
    metadata_filter: dict[str, Any] | None = None


OutgoingFrame = (
    SessionInitFrame | EncryptedSessionInitFrame | UploadVectorsFrame | SearchVectorsFrame
)


# --- Frames the host sends --------------------------------------------------------------


class SessionAck(msgspec.Struct, frozen=True):
    """``session_init_ack``; ``client_address`` is the recovered signer on encrypted inits."""

    status: str
    session_id: str
    job_id: JsonId | None = None
    chain_id: JsonId | None = None
    client_address: str | None = None
    message: str | None = None
    id: str | None = None


class ErrorFrame(msgspec.Struct, frozen=True):
    """``error``: init and message failures; echoes ``session_id`` / ``id`` / ``requestId``."""

    code: str
    message: str
    session_id: str | None = None
    id: str | None = None
    request_id: str | None = msgspec.field(default=None, name="requestId")


class LoadingProgress(msgspec.Struct, frozen=True):
    """One ``vector_loading_progress`` payload; the fields present depend on ``event``."""

    event: str
    message: str | None = None
    chunk_id: int | None = None
    total: int | None = None
    percent: int | None = None
    vector_count: int | None = None
    duration_ms: int | None = None
    error_code: str | None = None
    error: str | None = None

    @property
    def is_final(self) -> bool:
        """True for ``loading_complete`` and ``loading_error``: every load ends with one."""
        return self.event in (LOADING_COMPLETE, LOADING_ERROR)


LOADING_COMPLETE = "loading_complete"
LOADING_ERROR = "loading_error"
CHUNK_DOWNLOADED = "chunk_downloaded"


class ProgressFrame(msgspec.Struct, frozen=True):
    """``vector_loading_progress``."""

    session_id: str
    payload: LoadingProgress


class UploadError(msgspec.Struct, frozen=True):
    """One rejected vector of an upload; ``index`` counts from the first vector sent."""

    index: int
    code: str
    message: str
    id: JsonId | None = None


class UploadVectorsResponse(msgspec.Struct, rename="camel", frozen=True):
    """``uploadVectorsResponse`` for one frame."""

    request_id: str
    status: str
    uploaded: int
    rejected: int
    errors: list[UploadError] = msgspec.field(default_factory=list)


class SearchResult(msgspec.Struct, frozen=True):
    """One hit: ``score`` is cosine similarity."""

    id: JsonId
    score: float
    metadata: dict[str, Any] | None = None


class SearchResponse(msgspec.Struct, rename="camel", frozen=True):
    """``searchVectorsResponse``: hits best first, with how many vectors were searched."""

    request_id: str
    results: list[SearchResult]
    total_vectors: int | None = None
    search_time_ms: float | None = None


REPLY_TYPES: dict[str, type[SessionAck | ErrorFrame | UploadVectorsResponse | SearchResponse]] = {
    "session_init_ack": SessionAck,
    "error": ErrorFrame,
    "uploadVectorsResponse": UploadVectorsResponse,
    "searchVectorsResponse": SearchResponse,
}
"""Frames that answer one request, matched by ``requestId`` or ``id``."""

Reply = SessionAck | ErrorFrame | UploadVectorsResponse | SearchResponse


def encode_frame(frame: OutgoingFrame) -> str:
    """The JSON text of an outgoing frame."""
    return msgspec.json.encode(frame).decode()


def reply_key(frame: dict[str, Any]) -> str | None:
    """The request a reply answers: its ``requestId``, else its ``id`` (strings only)."""
    for name in ("requestId", "id"):
        value = frame.get(name)
        if isinstance(value, str):
            return value
    return None
