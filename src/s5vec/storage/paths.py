"""S5 path validation shared by every backend: a path that could escape a store never passes."""

from __future__ import annotations

from s5vec.errors import PermanentStorageError

MAX_SEGMENT_BYTES = 255
"""Longest file name most filesystems accept (ext4, xfs, apfs)."""

MAX_PATH_BYTES = 4096

RESERVED_PREFIX = ".s5vec-"
"""Segments starting with this, in any case, name a store's own files, never S5 data."""

TEMP_PREFIX = RESERVED_PREFIX + "tmp-"
"""Names of in-flight atomic writes of the local backend."""


def is_reserved(segment: str) -> bool:
    """Whether a path segment names a store's own files (temp files, the dev store's blobs).

    Compared after case folding: on a case-insensitive filesystem ``.S5VEC-BLOBS`` (or a
    long s, ``ſ``) reaches the same directory as ``.s5vec-blobs``.
    """
    return segment.casefold().startswith(RESERVED_PREFIX)


def split_path(path: str) -> tuple[str, ...]:
    """Split a file path into validated segments; PermanentStorageError if it could escape."""
    if not path:
        raise PermanentStorageError("Storage path is empty")
    segments = _segments(path)
    if not segments:
        raise PermanentStorageError("Storage path names no file")
    return segments


def split_dir(path: str) -> tuple[str, ...]:
    """Split a directory path (``""`` is the root, a trailing ``/`` is allowed) into segments."""
    if path in ("", "/"):
        return ()
    return _segments(path[:-1] if path.endswith("/") else path)


def _segments(path: str) -> tuple[str, ...]:
    if path.startswith("/"):
        raise PermanentStorageError("Storage path must be relative")
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        raise PermanentStorageError("Storage path is not valid UTF-8") from None
    if len(encoded) > MAX_PATH_BYTES:
        raise PermanentStorageError("Storage path is too long")
    # Control characters (NUL above all) and backslashes never appear in S5 paths; refusing
    # them keeps every OS and log line safe.
    if "\\" in path or any(ord(char) < 0x20 or char == "\x7f" for char in path):
        raise PermanentStorageError("Storage path holds a forbidden character")
    segments = tuple(path.split("/"))
    for segment in segments:
        if segment in ("", ".", ".."):
            raise PermanentStorageError("Storage path has an empty, '.' or '..' segment")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise PermanentStorageError("Storage path has a segment over 255 bytes")
        if is_reserved(segment):
            raise PermanentStorageError("Storage path uses a reserved name")
    return segments
