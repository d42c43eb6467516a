"""A Python client for the s5vec host: sessions, loading progress, uploads and searches."""

from s5vec.client.connection import DEFAULT_URL, DatabaseSpec, S5VecClient
from s5vec.client.failures import (
    CLIENT_TIMEOUT,
    CONNECTION_CLOSED,
    CONNECTION_FAILED,
    NOT_LOADING,
    PROTOCOL_ERROR,
    ClientError,
    remote_error,
)
from s5vec.client.frames import (
    LoadingProgress,
    SearchResponse,
    SearchResult,
    SessionAck,
    UploadError,
    VectorRecord,
)
from s5vec.client.transport import http_url
from s5vec.client.uploads import MAX_VECTORS_PER_MESSAGE, UploadResult

__all__ = [
    "CLIENT_TIMEOUT",
    "CONNECTION_CLOSED",
    "CONNECTION_FAILED",
    "DEFAULT_URL",
    "MAX_VECTORS_PER_MESSAGE",
    "NOT_LOADING",
    "PROTOCOL_ERROR",
    "ClientError",
    "DatabaseSpec",
    "LoadingProgress",
    "S5VecClient",
    "SearchResponse",
    "SearchResult",
    "SessionAck",
    "UploadError",
    "UploadResult",
    "VectorRecord",
    "http_url",
    "remote_error",
]
