"""Ethereum identities: keccak-256, addresses from public keys, EIP-55, EIP-191 digests."""

from __future__ import annotations

import re
from typing import TypeGuard

from Crypto.Hash import keccak

from s5vec.crypto.secp256k1 import uncompressed_public_key
from s5vec.errors import InvalidAddress

ADDRESS_SIZE = 20
# An explicit ASCII class: look-alike digits from other scripts must not pass.
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_EIP191_PREFIX_32 = b"\x19Ethereum Signed Message:\n32"


def keccak256(data: bytes) -> bytes:
    """Return the 32-byte keccak-256 digest (Ethereum's, not SHA3-256)."""
    return bytes(keccak.new(digest_bits=256, data=data).digest())


def to_checksum_address(address: str | bytes) -> str:
    """EIP-55 checksum a 20-byte address or a ``0x`` + 40 hex string of any case."""
    if isinstance(address, bytes):
        if len(address) != ADDRESS_SIZE:
            raise InvalidAddress("An address must be 20 bytes")
        lower = address.hex()
    elif _ADDRESS.fullmatch(address):
        lower = address[2:].lower()
    else:
        raise InvalidAddress()
    nibbles = keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if int(n, 16) >= 8 else c for c, n in zip(lower, nibbles, strict=False)
    )


def is_valid_address(address: object) -> TypeGuard[str]:
    """``0x`` + 40 hex; all-lower / all-upper pass, mixed case must be a valid EIP-55 checksum."""
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
        return False
    body = address[2:]
    if body in (body.lower(), body.upper()):
        return True
    return to_checksum_address(address) == address


def address_from_public_key(public_key: bytes) -> str:
    """Checksummed address: last 20 bytes of keccak-256 of the 64-byte uncompressed point."""
    point = uncompressed_public_key(public_key)
    return to_checksum_address(keccak256(point[1:])[-ADDRESS_SIZE:])


def eip191_hash(digest: bytes) -> bytes:
    """EIP-191 personal-message hash of 32 raw bytes: keccak256(prefix || digest)."""
    if len(digest) != 32:
        raise ValueError("EIP-191 hashing here is defined for 32-byte digests")
    return keccak256(_EIP191_PREFIX_32 + digest)
