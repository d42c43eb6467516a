"""cache.sealed: AES-256-GCM rows and segments, round trips and every way of tampering."""

from __future__ import annotations

import io
import os
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s5vec.cache.sealed import TAG_SIZE, SealedRows, SealedWriter, unseal
from s5vec.errors import DecryptionFailed

KEY = bytes(range(32))
CONTEXT = b"entry-1"
HEAD = 56
ROW = 8


def seal(
    pieces: list[bytes], segment_size: int, rows: bytes = b"", key: bytes = KEY, block: int = 13
) -> bytes:
    """A sealed file of ``rows`` (``ROW`` bytes each, handed over in ``block``-byte pieces,
    across row boundaries) and the stream ``pieces``."""
    out = io.BytesIO()
    writer = SealedWriter(
        out, key, CONTEXT, rows=len(rows) // ROW, row_bytes=ROW, segment_size=segment_size
    )
    for start in range(0, len(rows), block):
        writer.write_rows(rows[start : start + block])
    for piece in pieces:
        writer.write(piece)
    writer.close()
    return out.getvalue()


def open_sealed(
    sealed: bytes, key: bytes = KEY, context: bytes = CONTEXT
) -> tuple[bytes, list[bytes]]:
    """The stream and every row of ``sealed`` (through a real file, as the catalogue does)."""
    with tempfile.TemporaryFile() as source:
        source.write(sealed)
        source.flush()
        out = io.BytesIO()
        rows = unseal(source.fileno(), key, context, out)
        every = [rows.read(source.fileno(), [row]) for row in range(rows.rows)]
    return out.getvalue(), every


@settings(max_examples=150, deadline=None)
@given(
    pieces=st.lists(st.binary(max_size=70), max_size=8),
    segment_size=st.integers(1, 40),
    rows=st.integers(0, 12),
    block=st.integers(1, 40),
)
def test_round_trip(pieces: list[bytes], segment_size: int, rows: int, block: int) -> None:
    row_data = os.urandom(rows * ROW)
    stream, opened = open_sealed(seal(pieces, segment_size, row_data, block=block))
    assert stream == b"".join(pieces)
    assert b"".join(opened) == row_data


def test_rows_are_read_one_by_one_in_any_order() -> None:
    row_data = bytes(range(10 * ROW))
    with tempfile.TemporaryFile() as source:
        source.write(seal([b"stream"], 16, row_data))
        source.flush()
        rows: SealedRows = unseal(source.fileno(), KEY, CONTEXT, io.BytesIO())
        picked = rows.read(source.fileno(), [7, 2, 7])
    assert picked == row_data[56:64] + row_data[16:24] + row_data[56:64]


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=60),
    rows=st.integers(0, 4),
    at=st.integers(0, 10**6),
    bit=st.integers(0, 7),
)
def test_any_flipped_bit_fails(data: bytes, rows: int, at: int, bit: int) -> None:
    sealed = bytearray(seal([data], 16, bytes(rows * ROW)))
    sealed[at % len(sealed)] ^= 1 << bit
    with pytest.raises(DecryptionFailed):
        open_sealed(bytes(sealed))


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=100), rows=st.integers(0, 4), cut=st.integers(0, 10**6))
def test_any_truncation_fails(data: bytes, rows: int, cut: int) -> None:
    sealed = seal([data], 16, bytes(rows * ROW))
    with pytest.raises(DecryptionFailed):
        open_sealed(sealed[: cut % len(sealed)])


def test_a_truncation_at_a_segment_boundary_fails() -> None:
    sealed = seal([bytes(64)], 16)  # the head, 4 full segments and an empty last one
    assert len(sealed) == HEAD + 4 * (16 + TAG_SIZE) + TAG_SIZE
    for segments in range(5):
        with pytest.raises(DecryptionFailed):
            open_sealed(sealed[: HEAD + segments * (16 + TAG_SIZE)])


def test_reordered_segments_or_rows_fail() -> None:
    size = 16 + TAG_SIZE
    sealed = seal([bytes(range(48))], 16)
    first, second = sealed[HEAD : HEAD + size], sealed[HEAD + size : HEAD + 2 * size]
    with pytest.raises(DecryptionFailed):
        open_sealed(sealed[:HEAD] + second + first + sealed[HEAD + 2 * size :])
    stride = ROW + TAG_SIZE
    sealed = seal([b"s"], 16, bytes(range(2 * ROW)))
    swapped = sealed[:HEAD] + sealed[HEAD + stride : HEAD + 2 * stride]
    swapped += sealed[HEAD : HEAD + stride] + sealed[HEAD + 2 * stride :]
    with pytest.raises(DecryptionFailed):
        open_sealed(swapped)


def test_another_key_or_context_fails() -> None:
    sealed = seal([b"vectors and ids"], 8)
    with pytest.raises(DecryptionFailed):
        open_sealed(sealed, key=bytes(32))
    with pytest.raises(DecryptionFailed):
        open_sealed(sealed, context=b"entry-2")


def test_a_plain_file_is_not_sealed() -> None:
    with pytest.raises(DecryptionFailed):
        open_sealed(b"S5VIDX01 a plain image, not a sealed one" * 2)
    with pytest.raises(DecryptionFailed):
        open_sealed(b"")


def test_nothing_in_the_file_is_plaintext() -> None:
    secret = b"top-secret-vector-id-" * 50
    assert secret[:21] not in seal([secret], 64, secret[: 40 * ROW])


def test_every_file_gets_its_own_key() -> None:
    data = os.urandom(1000)
    a, b = seal([data], 100, data[:80]), seal([data], 100, data[:80])
    assert a[HEAD:] != b[HEAD:]  # fresh salt, so fresh key, though nonces count from 0
    assert open_sealed(a) == open_sealed(b)


def test_the_writer_refuses_a_stream_before_every_row_or_extra_rows() -> None:
    writer = SealedWriter(io.BytesIO(), KEY, CONTEXT, rows=2, row_bytes=ROW)
    with pytest.raises(ValueError, match="before every row"):
        writer.write(b"x")
    with pytest.raises(ValueError, match="more rows"):
        writer.write_rows(bytes(2 * ROW + 1))
    writer.write_rows(bytes(ROW + 3))
    with pytest.raises(ValueError, match="fewer rows"):
        writer.close()
