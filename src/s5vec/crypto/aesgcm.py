"""AES-256-GCM as S5 clients write it: ``nonce(12) || ciphertext || tag(16)``, empty AAD.

pycryptodome rather than ``cryptography`` (SPEC section 11's choice), for a measured reason:
``cryptography``'s AEAD holds the GIL for the whole call, so decrypting an 80 MB chunk in a
loader thread stalled the event loop for 150-270 ms (p99 of a 1 ms timer in the main thread)
and serialised decryption across threads; pycryptodome's C core runs without the GIL (p99
4.9-7.8 ms on the same machine) at the same throughput. Both use AES-NI and carry-less
multiplication where the CPU has them.
"""

from __future__ import annotations

import os
from typing import Any

from Crypto.Cipher import AES

from s5vec.errors import DecryptionFailed

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16


def _cipher(key: bytes, nonce: bytes) -> Any:
    if len(key) != KEY_SIZE:
        raise DecryptionFailed("The session key must be 32 bytes")
    return AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_SIZE)


# The first GCM cipher makes pycryptodome import its GCM, CTR and GHASH modules and parse
# their C declarations (~100-150 ms): done here, at import, rather than in the first
# encrypted load (the benchmark's 1K encrypted load took 0.25 s instead of ~0.1 s).
_cipher(bytes(KEY_SIZE), bytes(NONCE_SIZE))


def encrypt(key: bytes, plaintext: bytes, nonce: bytes | None = None) -> bytes:
    """Encrypt to ``nonce || ciphertext || tag``; a random nonce unless one is given."""
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    if len(nonce) != NONCE_SIZE:
        raise ValueError("AES-GCM nonce must be 12 bytes")
    ciphertext, tag = _cipher(key, nonce).encrypt_and_digest(plaintext)
    sealed: bytes = nonce + ciphertext + tag
    return sealed


def decrypt(key: bytes, blob: bytes) -> bytes:
    """Open ``nonce || ciphertext || tag``; raise DecryptionFailed on any mismatch."""
    if len(blob) < NONCE_SIZE + TAG_SIZE:
        raise DecryptionFailed("Encrypted file is too short to hold a nonce and tag")
    view = memoryview(blob)
    cipher = _cipher(key, bytes(view[:NONCE_SIZE]))
    try:
        plaintext: bytes = cipher.decrypt_and_verify(view[NONCE_SIZE:-TAG_SIZE], view[-TAG_SIZE:])
    except ValueError:  # pycryptodome's "MAC check failed"
        raise DecryptionFailed() from None
    return plaintext
