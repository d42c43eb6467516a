"""Splitting an upload into ``uploadVectors`` frames and adding up their replies."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import msgspec

from s5vec.client.frames import UploadError, UploadVectorsResponse, VectorRecord

MAX_VECTORS_PER_MESSAGE = 1000
"""SPEC 4: the host rejects an ``uploadVectors`` frame with more vectors than this."""


class UploadResult(msgspec.Struct, frozen=True):
    """An upload's outcome over all its frames; error indexes count over the whole upload."""

    status: str
    uploaded: int
    rejected: int
    errors: list[UploadError]
    messages: int


def batches(records: Sequence[VectorRecord], size: int) -> Iterator[list[VectorRecord]]:
    """Consecutive slices of at most ``size``; one empty batch for an empty upload."""
    if size < 1:
        raise ValueError("the batch size must be at least 1")
    if not records:
        yield []
        return
    for start in range(0, len(records), size):
        yield list(records[start : start + size])


def merge_results(
    replies: Sequence[UploadVectorsResponse], size: int = MAX_VECTORS_PER_MESSAGE
) -> UploadResult:
    """Add up the replies of consecutive batches of ``size`` vectors.

    ``status`` is ``success`` when every frame succeeded, ``error`` when nothing was
    uploaded, else ``partial``.
    """
    errors = [
        msgspec.structs.replace(error, index=error.index + number * size)
        for number, reply in enumerate(replies)
        for error in reply.errors
    ]
    uploaded = sum(reply.uploaded for reply in replies)
    rejected = sum(reply.rejected for reply in replies)
    if all(reply.status == "success" for reply in replies):
        status = "success"
    elif uploaded == 0:
        status = "error"
    else:
        status = "partial"
    return UploadResult(status, uploaded, rejected, errors, len(replies))
