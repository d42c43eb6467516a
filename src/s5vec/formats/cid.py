"""S5 blob CIDs (SPEC section 6): parse, format, compute. Pure, no I/O.

Byte layout, as the S5 implementations write it::

    0x5b  0x82  0x1e  <32-byte BLAKE3 hash>  <size, little-endian, 0..8 bytes>

s5-rs ``s5_core/src/blob_id.rs`` (S5 v1 spec, docs.sfive.net/spec/blobs.html) names the
bytes ``S5_MAGIC_BYTE = 0x5b``, ``BLOB_TYPE_DEFAULT = 0x82``, ``MULTIHASH_BLAKE3 = 0x1e``,
parses ``hash = bytes[3..35]`` and the rest as a zero-padded little-endian ``u64``, and
rejects more than 8 size bytes. s5.js ``BlobIdentifier.toBytes`` trims trailing zero size
bytes "while (sizeBytes.length > 1 && ...)", so it keeps one byte for size 0 where s5-rs
keeps none: we parse both and write the s5.js form. Multibase prefixes follow s5.js
``Multibase``: ``b`` base32 lowercase RFC 4648 without padding, ``z`` base58btc, ``u``
base64url without padding. Legacy ``0x26`` CIDs are not blob CIDs here.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Literal, cast

import base58
import blake3

MAGIC = 0x5B
BLOB_TYPE_DEFAULT = 0x82
MULTIHASH_BLAKE3 = 0x1E
PREFIX = bytes([MAGIC, BLOB_TYPE_DEFAULT, MULTIHASH_BLAKE3])
HASH_SIZE = 32
MAX_SIZE_BYTES = 8
MAX_TEXT_LENGTH = 128
"""Longest text considered: a 43-byte CID is 70 chars in base32; refuse more before decoding."""

Base = Literal["b", "z", "u"]


class CidError(ValueError):
    """The text is not an S5 blob CID."""


@dataclass(frozen=True, slots=True)
class S5Cid:
    """A blob's BLAKE3 hash and byte size."""

    hash: bytes
    size: int

    def __post_init__(self) -> None:
        if len(self.hash) != HASH_SIZE:
            raise CidError("a blob CID hash is 32 bytes")
        if not 0 <= self.size < 2 ** (8 * MAX_SIZE_BYTES):
            raise CidError("a blob CID size is an unsigned 64-bit integer")

    def to_bytes(self) -> bytes:
        """Raw CID bytes: prefix, hash, size with trailing zero bytes trimmed (one kept)."""
        size = self.size.to_bytes(MAX_SIZE_BYTES, "little").rstrip(b"\x00") or b"\x00"
        return PREFIX + self.hash + size

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` has this CID's size and BLAKE3 hash."""
        return len(data) == self.size and blake3.blake3(data).digest() == self.hash


def _encode(raw: bytes, base: Base) -> str:
    if base == "b":
        return "b" + base64.b32encode(raw).decode("ascii").rstrip("=").lower()
    if base == "z":
        return "z" + base58.b58encode(raw).decode("ascii")
    if base == "u":
        return "u" + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
    raise CidError(f"unsupported multibase {base!r}")


def _decode(text: str) -> bytes:
    prefix, body = text[:1], text[1:]
    if prefix not in ("b", "z", "u") or not body or not body.isascii():
        raise CidError("not a b/z/u multibase string")
    base = cast(Base, prefix)
    try:
        if base == "b":
            raw = base64.b32decode(body.upper() + "=" * (-len(body) % 8))
        elif base == "z":
            raw = base58.b58decode(body)
        else:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (ValueError, binascii.Error):
        raise CidError("invalid multibase encoding") from None
    # Decoders tolerate stray case, alphabet and padding bits; only the canonical text passes.
    if _encode(raw, base) != text:
        raise CidError("non-canonical multibase encoding")
    return raw


def parse_cid_bytes(raw: bytes) -> S5Cid:
    """Parse raw CID bytes; CidError unless prefix, hash and size are well formed."""
    if not raw.startswith(PREFIX):
        raise CidError("not an S5 BLAKE3 blob CID (prefix 0x5b 0x82 0x1e)")
    size_bytes = raw[len(PREFIX) + HASH_SIZE :]
    if len(raw) < len(PREFIX) + HASH_SIZE or len(size_bytes) > MAX_SIZE_BYTES:
        raise CidError("blob CID has the wrong length")
    digest = raw[len(PREFIX) : len(PREFIX) + HASH_SIZE]
    return S5Cid(digest, int.from_bytes(size_bytes, "little"))


def parse_cid(text: str) -> S5Cid:
    """Parse a multibase (b/z/u) S5 blob CID; CidError on anything else."""
    if not isinstance(text, str) or len(text) > MAX_TEXT_LENGTH:
        raise CidError("not a blob CID string")
    return parse_cid_bytes(_decode(text))


def format_cid(cid: S5Cid, base: Base = "b") -> str:
    """The multibase text of ``cid`` (base32 ``b`` by default, like s5.js and s5-rs)."""
    return _encode(cid.to_bytes(), base)


def cid_for_bytes(data: bytes) -> S5Cid:
    """The blob CID of ``data``: its BLAKE3 hash and length."""
    return S5Cid(blake3.blake3(data).digest(), len(data))


def is_blob_cid(text: str) -> bool:
    """Whether ``text`` is a real S5 blob CID (a chunk's ``cid`` may be a path instead)."""
    try:
        parse_cid(text)
    except CidError:
        return False
    return True
