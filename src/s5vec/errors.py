"""The whole s5vec error taxonomy (SPEC section 7): one tree, read top to bottom.

Every class carries its wire ``code``, whether a retry may help (``retryable``), whether it
is a security refusal (``security``), and a default user message. Messages are written for
the client: they never contain a key, a decrypted byte, file contents or a full address.
Foreign exceptions (aiohttp, cryptography, cbor2) are mapped into this tree at the edge.
"""

from __future__ import annotations

import uuid
from typing import ClassVar


class S5VecError(Exception):
    """Base of every error s5vec reports to a client."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    retryable: ClassVar[bool] = False
    security: ClassVar[bool] = False
    default_message: ClassVar[str] = "Internal error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def to_wire(self) -> dict[str, str]:
        """Return the ``code`` / ``message`` pair sent to clients."""
        return {"code": self.code, "message": self.message}


class InternalError(S5VecError):
    """A bug: the message quotes a trace id that also appears in the server log."""

    code = "INTERNAL_ERROR"
    default_message = "Internal error"

    def __init__(self, message: str | None = None, trace_id: str | None = None) -> None:
        self.trace_id = trace_id or uuid.uuid4().hex[:16]
        super().__init__(f"{message or self.default_message} (trace id {self.trace_id})")


# --- Message handling -------------------------------------------------------------------


class MessageError(S5VecError):
    """A client message that cannot be handled as sent."""


class InvalidMessage(MessageError):
    """Not JSON, too large, a missing or ill-typed field, or a value out of range."""

    code = "INVALID_MESSAGE"
    default_message = "Invalid message"


class UnknownMessageType(MessageError):
    """A message whose ``type`` the server does not know."""

    code = "UNKNOWN_MESSAGE_TYPE"
    default_message = "Unknown message type"


class VectorsLoading(MessageError):
    """A search arrived while the session's database is still loading."""

    code = "VECTORS_LOADING"
    retryable = True
    default_message = "The vector database is still loading; retry when loading_complete arrives"


class VectorsNotLoaded(MessageError):
    """A search arrived for a database that has not started loading or failed."""

    code = "VECTORS_NOT_LOADED"
    default_message = "The vector database is not loaded"


# --- Encrypted session init -------------------------------------------------------------


class InitPayloadError(S5VecError):
    """An ``encrypted_session_init`` payload that cannot be opened."""

    security = True


class MissingPayload(InitPayloadError):
    """The encrypted init carried no payload."""

    code = "MISSING_PAYLOAD"
    default_message = "encrypted_session_init needs a payload"


class InvalidHexEncoding(InitPayloadError):
    """A payload field is not valid hex."""

    code = "INVALID_HEX_ENCODING"
    default_message = "A payload field is not valid hex"


class InvalidNonceSize(InitPayloadError):
    """The XChaCha20-Poly1305 nonce is not 24 bytes."""

    code = "INVALID_NONCE_SIZE"
    default_message = "The nonce must be 24 bytes"


class InvalidPayload(InitPayloadError):
    """The decrypted payload is not the expected JSON, or a key or signature is malformed."""

    code = "INVALID_PAYLOAD"
    default_message = "The decrypted payload is not a valid session init"


class EncryptionNotSupported(InitPayloadError):
    """The host has no private key, so it cannot open encrypted inits."""

    code = "ENCRYPTION_NOT_SUPPORTED"
    security = False
    default_message = "This host cannot accept encrypted session inits"


class DecryptionFailed(S5VecError):
    """Ciphertext failed authentication: wrong key or tampered bytes."""

    code = "DECRYPTION_FAILED"
    security = True
    default_message = "Decryption failed: wrong key or tampered data"


# --- Identity and paths -----------------------------------------------------------------


class InvalidPath(S5VecError):
    """A manifest path outside ``home/vector-databases/<address>/<name>/manifest.json``."""

    code = "INVALID_PATH"
    security = True
    default_message = (
        "manifest_path must be home/vector-databases/<0x address>/<name>/manifest.json"
    )


class InvalidAddress(S5VecError):
    """Not ``0x`` + 40 hex digits, or a mixed-case address with a bad EIP-55 checksum."""

    code = "INVALID_ADDRESS"
    security = True
    default_message = "user_address must be 0x followed by 40 hex digits (valid EIP-55 if mixed)"


class OwnerMismatch(S5VecError):
    """The signer, path address or manifest owner differs from ``userAddress``."""

    code = "OWNER_MISMATCH"
    security = True
    default_message = "The database owner does not match the requesting user"


# --- Loading ----------------------------------------------------------------------------


class VectorLoadError(S5VecError):
    """A failure while loading a database: reported as the load's ``loading_error``."""


class StorageError(VectorLoadError):
    """A storage backend failed; subclasses say whether a retry may help."""

    code = "STORAGE_ERROR"


class NotFound(StorageError):
    """The path or blob does not exist (HTTP 404, missing file). Never retried."""

    code = "NOT_FOUND"
    default_message = "Not found"


class RetryableStorageError(StorageError):
    """Timeout, connection error, truncated body, 5xx or 429: retry with backoff."""

    retryable = True
    default_message = "Storage is temporarily unavailable"

    def __init__(self, message: str | None = None, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class PermanentStorageError(StorageError):
    """A 4xx other than 404/429, or a refused request: retrying will not help."""

    default_message = "Storage refused the request"


class ManifestNotFound(VectorLoadError):
    """No manifest at the requested path."""

    code = "MANIFEST_NOT_FOUND"
    default_message = "No vector database manifest at that path"


class ManifestDownloadFailed(VectorLoadError):
    """The manifest could not be fetched after retries, or storage refused it."""

    code = "MANIFEST_DOWNLOAD_FAILED"
    retryable = True
    default_message = "Could not download the manifest"


class ChunkDownloadFailed(VectorLoadError):
    """A chunk could not be fetched after retries, or storage refused it."""

    code = "CHUNK_DOWNLOAD_FAILED"
    retryable = True
    default_message = "Could not download a chunk"


class ManifestParseError(VectorLoadError):
    """The manifest is undecodable, breaks the schema, or contradicts itself."""

    code = "MANIFEST_PARSE_ERROR"
    default_message = "The manifest is not a valid vector database manifest"


class ChunkParseError(VectorLoadError):
    """A chunk is undecodable or breaks the schema, or vector ids repeat."""

    code = "CHUNK_PARSE_ERROR"
    default_message = "A chunk is not a valid vector chunk"


class InvalidSessionKey(VectorLoadError):
    """A file needs a key and the session has none."""

    code = "INVALID_SESSION_KEY"
    security = True
    default_message = (
        "This database is encrypted (or damaged): open the session with encrypted_session_init"
    )


class DatabaseDeleted(VectorLoadError):
    """The manifest is marked ``deleted``."""

    code = "DATABASE_DELETED"
    default_message = "This vector database has been deleted"


class DimensionMismatch(VectorLoadError):
    """Vectors of differing length, length 0 or over 4096, or unlike the manifest/store."""

    code = "DIMENSION_MISMATCH"
    default_message = "Vector dimensions do not match"


class VectorCountMismatch(VectorLoadError):
    """A chunk holds a different number of vectors than its manifest entry says."""

    code = "VECTOR_COUNT_MISMATCH"
    default_message = "A chunk's vector count differs from the manifest"


class InvalidVector(VectorLoadError):
    """NaN or infinite values; for uploads also oversized metadata or a missing id."""

    code = "INVALID_VECTOR"
    default_message = "A vector holds NaN or infinite values"


class MemoryLimitExceeded(VectorLoadError):
    """The database (or the uploads) would exceed the configured memory limit."""

    code = "MEMORY_LIMIT_EXCEEDED"
    default_message = "The vector database exceeds this host's memory limit"


class RateLimitExceeded(VectorLoadError):
    """Waiting for the storage rate limiter would pass the load timeout."""

    code = "RATE_LIMIT_EXCEEDED"
    retryable = True
    default_message = "Storage rate limit reached; try again later"


class LoadTimeout(VectorLoadError):
    """The whole load passed ``S5_LOADING_TIMEOUT_MINUTES``."""

    code = "TIMEOUT"
    retryable = True
    default_message = "Loading the vector database timed out"


class IndexBuildFailed(VectorLoadError):
    """The index library failed."""

    code = "INDEX_BUILD_FAILED"
    default_message = "Building the search index failed"


class Cancelled(VectorLoadError):
    """The load was cancelled by a disconnect or a second init."""

    code = "CANCELLED"
    default_message = "Loading was cancelled"


ALL_ERRORS: tuple[type[S5VecError], ...] = (
    InternalError,
    InvalidMessage,
    UnknownMessageType,
    VectorsLoading,
    VectorsNotLoaded,
    MissingPayload,
    InvalidHexEncoding,
    InvalidNonceSize,
    InvalidPayload,
    EncryptionNotSupported,
    DecryptionFailed,
    InvalidPath,
    InvalidAddress,
    OwnerMismatch,
    ManifestNotFound,
    ManifestDownloadFailed,
    ChunkDownloadFailed,
    ManifestParseError,
    ChunkParseError,
    InvalidSessionKey,
    DatabaseDeleted,
    DimensionMismatch,
    VectorCountMismatch,
    InvalidVector,
    MemoryLimitExceeded,
    RateLimitExceeded,
    LoadTimeout,
    IndexBuildFailed,
    Cancelled,
)
"""Every class whose ``code`` reaches the wire (storage-internal classes excluded)."""
