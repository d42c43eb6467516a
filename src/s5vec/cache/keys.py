"""Cache keys: which built index a session may reuse (SPEC section 9).

The key is never the manifest path alone. It is (manifest path, key id, manifest digest):
- the key id is ``"plaintext"`` when the database's files are plaintext, otherwise an
  HMAC-SHA256 of the session key under a per-process random salt, so a session with a
  different key never hits, and the cache holds nothing from which a key could be
  brute-forced offline (the salt never leaves memory and changes on every start);
- the manifest digest is SHA-256 of the manifest bytes exactly as fetched, so a changed
  manifest is a miss.
Who decides "plaintext" is the loader: it passes ``None`` only when the files it read were
not encrypted, never merely because the session sent no key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PLAINTEXT = "plaintext"
SALT_SIZE = 32


def new_salt() -> bytes:
    """A fresh random salt for key ids (one per process, held by the cache)."""
    return secrets.token_bytes(SALT_SIZE)


def key_id_for(session_key: bytes | None, salt: bytes) -> str:
    """``"plaintext"`` for None, else hex HMAC-SHA256 of the session key under ``salt``."""
    if len(salt) < 16:
        raise ValueError("the key id salt must be at least 16 random bytes")
    if session_key is None:
        return PLAINTEXT
    return hmac.new(salt, session_key, hashlib.sha256).hexdigest()


def manifest_digest(manifest_bytes: bytes) -> str:
    """Hex SHA-256 of the manifest bytes as fetched."""
    return hashlib.sha256(manifest_bytes).hexdigest()


@dataclass(frozen=True, slots=True)
class CacheKey:
    """Identity of one built index: same path, same key and same manifest content."""

    manifest_path: str
    key_id: str
    manifest_digest: str

    @classmethod
    def build(
        cls, manifest_path: str, session_key: bytes | None, manifest_bytes: bytes, salt: bytes
    ) -> CacheKey:
        """Key for ``manifest_path`` read with ``session_key`` (None: plaintext files)."""
        return cls(manifest_path, key_id_for(session_key, salt), manifest_digest(manifest_bytes))
