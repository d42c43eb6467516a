"""The error taxonomy matches SPEC section 7."""

import pytest

from s5vec import errors

SPEC_CODES = {
    "INVALID_MESSAGE",
    "UNKNOWN_MESSAGE_TYPE",
    "MISSING_PAYLOAD",
    "INVALID_HEX_ENCODING",
    "INVALID_NONCE_SIZE",
    "INVALID_PAYLOAD",
    "DECRYPTION_FAILED",
    "ENCRYPTION_NOT_SUPPORTED",
    "INVALID_PATH",
    "INVALID_ADDRESS",
    "OWNER_MISMATCH",
    "VECTORS_LOADING",
    "VECTORS_NOT_LOADED",
    "MANIFEST_NOT_FOUND",
    "MANIFEST_DOWNLOAD_FAILED",
    "CHUNK_DOWNLOAD_FAILED",
    "MANIFEST_PARSE_ERROR",
    "CHUNK_PARSE_ERROR",
    "INVALID_SESSION_KEY",
    "DATABASE_DELETED",
    "DIMENSION_MISMATCH",
    "VECTOR_COUNT_MISMATCH",
    "INVALID_VECTOR",
    "MEMORY_LIMIT_EXCEEDED",
    "RATE_LIMIT_EXCEEDED",
    "TIMEOUT",
    "INDEX_BUILD_FAILED",
    "CANCELLED",
    "INTERNAL_ERROR",
}


def test_every_spec_code_has_exactly_one_class() -> None:
    codes = [cls.code for cls in errors.ALL_ERRORS]
    assert sorted(codes) == sorted(SPEC_CODES)


@pytest.mark.parametrize("cls", errors.ALL_ERRORS)
def test_every_error_is_an_s5vec_error_with_a_message(cls: type[errors.S5VecError]) -> None:
    err = cls()
    assert isinstance(err, errors.S5VecError)
    wire = err.to_wire()
    assert wire["code"] == cls.code
    assert wire["message"]


def test_internal_error_quotes_its_trace_id() -> None:
    err = errors.InternalError(trace_id="abc123")
    assert "abc123" in err.message
    assert err.trace_id == "abc123"


def test_security_and_retry_flags() -> None:
    assert errors.OwnerMismatch.security
    assert errors.DecryptionFailed.security
    assert errors.InvalidSessionKey.security
    assert errors.RetryableStorageError.retryable
    assert not errors.NotFound.retryable
    assert errors.VectorsLoading.retryable
    assert not errors.ManifestParseError.retryable


def test_storage_errors_keep_retry_after_hint() -> None:
    err = errors.RetryableStorageError("busy", retry_after=2.5)
    assert err.retry_after == 2.5
    assert isinstance(err, errors.StorageError)
