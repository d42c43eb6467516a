"""AES-256-GCM as S5 clients write it: ``nonce(12) || ciphertext || tag(16)``, empty AAD."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from s5vec.errors import DecryptionFailed

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16


def _cipher(key: bytes) -> AESGCM:
    if len(key) != KEY_SIZE:
        raise DecryptionFailed("The session key must be 32 bytes")
    return AESGCM(key)


def encrypt(key: bytes, plaintext: bytes, nonce: bytes | None = None) -> bytes:
    """Encrypt to ``nonce || ciphertext || tag``; a random nonce unless one is given."""
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    if len(nonce) != NONCE_SIZE:
        raise ValueError("AES-GCM nonce must be 12 bytes")
    return nonce + _cipher(key).encrypt(nonce, plaintext, None)


def decrypt(key: bytes, blob: bytes) -> bytes:
    """Open ``nonce || ciphertext || tag``; raise DecryptionFailed on any mismatch."""
    if len(blob) < NONCE_SIZE + TAG_SIZE:
        raise DecryptionFailed("Encrypted file is too short to hold a nonce and tag")
    try:
        return _cipher(key).decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], None)
    except InvalidTag:
        raise DecryptionFailed() from None
