"""Which bytes to decode: AES-256-GCM or plaintext, decided per file as SPEC section 5 says.

- With a key, AES-GCM is tried first. If authentication fails, the bytes are accepted as
  plaintext only when they decode completely as a CBOR map or JSON object (deployed clients
  write plaintext files inside encrypted sessions); otherwise ``DECRYPTION_FAILED``.
  Plaintext that decodes but breaks the schema is that file's parse error, not a decryption
  failure: random ciphertext never decodes completely as a map, so nothing is misreported.
- Without a key the bytes must be plaintext; the caller names the error when they are not
  (``INVALID_SESSION_KEY`` for a manifest, ``CHUNK_PARSE_ERROR`` for a chunk).
- Decrypted bytes that are not plaintext are that file's parse error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from s5vec.crypto import aesgcm
from s5vec.errors import DecryptionFailed, S5VecError
from s5vec.formats.plaintext import NotPlaintext

T = TypeVar("T")


def open_file(
    data: bytes,
    key: bytes | None,
    parse: Callable[[bytes], T],
    not_plaintext: Callable[[], S5VecError],
    undecodable: Callable[[], S5VecError],
) -> tuple[T, bool]:
    """Decode ``data`` with ``parse``; return the value and whether it was AES-GCM encrypted.

    ``parse`` raises NotPlaintext when the bytes are not a complete CBOR/JSON map and an
    S5VecError when they are but break the schema. ``not_plaintext`` is the error for bytes
    that are not plaintext when no key is given; ``undecodable`` for decrypted bytes that
    are not plaintext.
    """
    if key is None:
        try:
            return parse(data), False
        except NotPlaintext:
            raise not_plaintext() from None
    try:
        plaintext = aesgcm.decrypt(key, data)
    except DecryptionFailed as failure:
        try:
            return parse(data), False
        except NotPlaintext:
            raise failure from None
    try:
        return parse(plaintext), True
    except NotPlaintext:
        raise undecodable() from None
