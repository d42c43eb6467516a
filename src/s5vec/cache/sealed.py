"""AES-256-GCM at rest for persisted indexes of encrypted databases: rows, then a stream.

A sealed file is ``head || rows || segments``:

- head: ``MAGIC``, a random 32-byte salt, the segment size, the row size and the row count.
  The file's own key is HKDF-SHA256(the entry key, salt, info "s5vec sealed file"), fresh
  for every file written, so nonces can simply count; every row and segment is
  authenticated together with the file's ``context`` (its identity) and the whole head.
- rows: fixed-size rows (the full-precision vectors), each ``ciphertext || tag`` on its own,
  nonce = row number, so a search can read and open just the rows it re-scores, and a
  restore need not decrypt them (they are 60% of an image): it only hashes them.
- segments: the rest of the stream (the image without its vectors) in ``segment size``
  pieces, ``ciphertext || tag`` each, nonce = segment number. The last is always shorter
  (possibly empty); its associated data says it is the last and holds the BLAKE3 of the
  sealed rows. So a file cut short, segments reordered, dropped or taken from another file,
  and any damage to the rows, all fail authentication when the file is opened.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from s5vec.errors import DecryptionFailed

MAGIC = b"S5VISEG2"
SEGMENT_SIZE = 4 * 1024 * 1024
TAG_SIZE = 16
_HEAD = struct.Struct("<8s32sIIQ")
_NONCE = struct.Struct("<B3xQ")
_ROW, _SEGMENT = 0, 1
_MAX_SEGMENT = 64 * 1024 * 1024
_MAX_ROW = 4 * 4096


def _file_aead(key: bytes, salt: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"s5vec sealed file")
    return AESGCM(derived.derive(key))


def _nonce(domain: int, number: int) -> bytes:
    return _NONCE.pack(domain, number)


class SealedWriter:
    """Seals ``rows`` rows of ``row_bytes`` (``write_rows``, first), then a stream (``write``),
    into ``out``; ``close()`` writes the last segment."""

    def __init__(
        self,
        out: IO[bytes],
        key: bytes,
        context: bytes,
        *,
        rows: int = 0,
        row_bytes: int = 0,
        segment_size: int = SEGMENT_SIZE,
    ) -> None:
        if not 1 <= segment_size <= _MAX_SEGMENT or not 0 <= row_bytes <= _MAX_ROW or rows < 0:
            raise ValueError("segment or row size out of range")
        if rows and not row_bytes:
            raise ValueError("rows need a size")
        salt = os.urandom(32)
        head = _HEAD.pack(MAGIC, salt, segment_size, row_bytes, rows)
        out.write(head)
        self._out = out
        self._aead = _file_aead(key, salt)
        self._associated = context + head
        self._size = segment_size
        self._row_bytes = row_bytes
        self._rows_left = rows
        self._rows_digest = blake3.blake3()
        self._partial = bytearray()
        self._pending = bytearray()
        self._number = 0
        self._closed = False

    def write_rows(self, data: bytes | memoryview) -> None:
        """Seal rows, one by one, from bytes split anywhere (in order, before the stream)."""
        view = memoryview(data).cast("B")
        if len(view) > self._rows_left * self._row_bytes - len(self._partial):
            raise ValueError("more rows than announced")
        if not len(view):
            return
        if self._partial:
            take = min(len(view), self._row_bytes - len(self._partial))
            self._partial += view[:take]
            view = view[take:]
            if len(self._partial) == self._row_bytes:
                self._seal_row(self._partial)
                self._partial = bytearray()
        whole = len(view) - len(view) % self._row_bytes
        for start in range(0, whole, self._row_bytes):
            self._seal_row(view[start : start + self._row_bytes])
        self._partial += view[whole:]

    def _seal_row(self, row: bytes | bytearray | memoryview) -> None:
        sealed = self._aead.encrypt(_nonce(_ROW, self._number), row, self._associated)
        self._rows_digest.update(sealed)
        self._out.write(sealed)
        self._number += 1
        self._rows_left -= 1
        if not self._rows_left:
            self._number = 0  # segments count from 0 in their own nonce domain

    def write(self, data: bytes | memoryview, /) -> None:
        """Encrypt stream bytes (full segments go out at once; the rest waits for more)."""
        if self._closed or self._rows_left:
            raise ValueError("write after close, or before every row")
        view = memoryview(data).cast("B")
        while len(view):
            if not self._pending and len(view) >= self._size:
                self._seal(view[: self._size], last=False)
                view = view[self._size :]
                continue
            take = min(len(view), self._size - len(self._pending))
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) == self._size:
                self._seal(self._pending, last=False)
                self._pending = bytearray()

    def close(self) -> None:
        """Write the last (shorter) segment; idempotent. Does not close ``out``."""
        if self._rows_left:
            raise ValueError("fewer rows than announced")
        if not self._closed:
            self._closed = True
            self._seal(self._pending, last=True)
            self._pending = bytearray()

    def _seal(self, plain: bytes | bytearray | memoryview, *, last: bool) -> None:
        digest = self._rows_digest.digest() if last else b""
        associated = _segment_associated(self._associated, last, digest)
        self._out.write(self._aead.encrypt(_nonce(_SEGMENT, self._number), plain, associated))
        self._number += 1


def _segment_associated(associated: bytes, last: bool, rows_digest: bytes) -> bytes:
    return associated + (b"\x01" + rows_digest if last else b"\x00")


def _hash_region(fd: int, offset: int, length: int) -> bytes:
    """BLAKE3 of ``length`` bytes of ``fd`` from ``offset``, through a mapping of its own
    (no copy; unmapped afterwards, so the pages do not stay in the resident set)."""
    digest = blake3.blake3(max_threads=blake3.blake3.AUTO)
    if length:
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        with mmap.mmap(fd, offset + length - start, access=mmap.ACCESS_READ, offset=start) as m:
            m.madvise(mmap.MADV_SEQUENTIAL)
            with memoryview(m) as view:
                digest.update(view[offset - start :])
    return digest.digest()


class SealedRows:
    """The sealed rows of a file: each read and authenticated on its own."""

    def __init__(self, aead: AESGCM, associated: bytes, offset: int, rows: int, row_bytes: int):
        self._aead = aead
        self._associated = associated
        self._offset = offset
        self.rows = rows
        self.row_bytes = row_bytes

    def read(self, fd: int, rows: Sequence[int]) -> bytes:
        """The plaintext of ``rows`` (numbers below ``self.rows``), concatenated.

        Raises DecryptionFailed when one fails authentication (damaged since opened)."""
        stride = self.row_bytes + TAG_SIZE
        parts = []
        for row in rows:
            sealed = os.pread(fd, stride, self._offset + row * stride)
            try:
                parts.append(self._aead.decrypt(_nonce(_ROW, row), sealed, self._associated))
            except InvalidTag:
                raise DecryptionFailed("A persisted vector failed authentication") from None
        return b"".join(parts)


def unseal(source_fd: int, key: bytes, context: bytes, out: IO[bytes]) -> SealedRows:
    """Decrypt the stream of the sealed file ``source_fd`` into ``out``; return its rows,
    which stay sealed in the file (read them with ``SealedRows.read``).

    Raises DecryptionFailed when a segment fails authentication (wrong key, another file's
    context, damage anywhere, rows included, truncation) or the file is not sealed at all;
    ``out`` may then hold a prefix of the stream, which the caller discards.
    """
    size = os.fstat(source_fd).st_size
    head = os.pread(source_fd, _HEAD.size, 0)
    if len(head) != _HEAD.size:
        raise DecryptionFailed("Not a sealed file")
    magic, salt, segment_size, row_bytes, rows = _HEAD.unpack(head)
    if magic != MAGIC or not 1 <= segment_size <= _MAX_SEGMENT or row_bytes > _MAX_ROW:
        raise DecryptionFailed("Not a sealed file")
    aead, associated = _file_aead(key, salt), context + head
    position = _HEAD.size + rows * (row_bytes + TAG_SIZE)
    if position > size:
        raise DecryptionFailed("Sealed file truncated")
    # The rows are hashed on a second thread (BLAKE3 releases the GIL) while the stream is
    # decrypted; the last segment then authenticates the digest.
    with ThreadPoolExecutor(1, thread_name_prefix="s5vec-unseal") as hasher:
        hashing = hasher.submit(_hash_region, source_fd, _HEAD.size, position - _HEAD.size)
        _open_stream(source_fd, aead, associated, segment_size, position, size, hashing, out)
    return SealedRows(aead, associated, _HEAD.size, rows, row_bytes)


def _open_stream(
    source_fd: int,
    aead: AESGCM,
    associated: bytes,
    segment_size: int,
    position: int,
    size: int,
    rows_digest: Future[bytes],
    out: IO[bytes],
) -> None:
    """Decrypt the segments from ``position`` into ``out``."""
    # Two reused buffers: fresh ones per segment would fault in new pages every time.
    sealed = memoryview(bytearray(segment_size + TAG_SIZE))
    plain = memoryview(bytearray(segment_size))
    number = 0
    while True:
        remaining = size - position
        last = remaining < segment_size + TAG_SIZE
        length = remaining if last else segment_size + TAG_SIZE
        if length < TAG_SIZE or os.preadv(source_fd, [sealed[:length]], position) != length:
            raise DecryptionFailed("Sealed file truncated")
        target = plain[: length - TAG_SIZE]
        digest = rows_digest.result() if last else b""
        try:
            aead.decrypt_into(
                _nonce(_SEGMENT, number),
                sealed[:length],
                _segment_associated(associated, last, digest),
                target,
            )
        except InvalidTag:
            raise DecryptionFailed() from None
        out.write(target)
        position += length
        number += 1
        if last:
            return
