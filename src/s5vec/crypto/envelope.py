"""The ``encrypted_session_init`` envelope (SPEC 2.2): open it on the host, seal it on a client.

ECDH (raw x) -> HKDF-SHA256 -> XChaCha20-Poly1305, plus a recoverable secp256k1 signature over
``SHA256(ciphertext || tag)``, either raw or as an EIP-191 personal message.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.exceptions import CryptoError

from s5vec.crypto.ethereum import address_from_public_key, eip191_hash, is_valid_address
from s5vec.crypto.hexcodec import decode_hex, strip_0x
from s5vec.crypto.secp256k1 import (
    HostKey,
    ecdh_x,
    generate_private_key,
    public_key_from_private,
    recover_public_key,
    sign_recoverable,
)
from s5vec.errors import (
    DecryptionFailed,
    InvalidAddress,
    InvalidNonceSize,
    InvalidPayload,
    MissingPayload,
    OwnerMismatch,
)

NONCE_SIZE = 24
TAG_SIZE = 16
KEY_SIZE = 32
_SESSION_KEY = re.compile(r"[0-9a-fA-F]{64}")


class EncryptedInitPayload(msgspec.Struct, rename="camel", frozen=True):
    """The ``payload`` object of ``encrypted_session_init``: hex strings, ``0x`` optional."""

    eph_pub_hex: str
    ciphertext_hex: str
    nonce_hex: str
    signature_hex: str
    aad_hex: str | None = None


class VectorDatabaseRef(msgspec.Struct, rename="camel", frozen=True):
    """The database a session asks for, as named by the client (validated by the caller)."""

    manifest_path: str
    user_address: str


class _Plaintext(msgspec.Struct, rename="camel", frozen=True):
    # Private and never printed: it holds the session key as text.
    session_key: str
    job_id: str | int | None = None
    model_name: str | None = None
    price_per_token: int | float | str | None = None  # informational; clients differ
    vector_database: VectorDatabaseRef | None = None
    recovery_public_key: str | None = None


@dataclass(frozen=True, slots=True)
class SessionInit:
    """An opened, signer-checked session init. The repr never shows ``session_key``."""

    client_address: str
    session_key: bytes = field(repr=False)
    job_id: str | int | None
    model_name: str | None
    price_per_token: int | float | str | None
    vector_database: VectorDatabaseRef | None
    recovery_public_key: str | None


def derive_key(shared_x: bytes) -> bytes:
    """HKDF-SHA256(salt=none, ikm=shared_x, info=empty) to a 32-byte XChaCha20 key."""
    return HKDF(algorithm=SHA256(), length=KEY_SIZE, salt=None, info=b"").derive(shared_x)


def signed_digest(ciphertext: bytes) -> bytes:
    """``d = SHA256(ciphertext || tag)``: what the client signs, raw or via EIP-191."""
    return hashlib.sha256(ciphertext).digest()


def open_session_init(
    payload: object, host_key: HostKey, *, require_signer_match: bool = True
) -> SessionInit:
    """Decrypt and check an ``encrypted_session_init`` payload; raise the SPEC 2.2 errors.

    ``vectorDatabase.userAddress`` is checked for shape and, with ``require_signer_match``,
    against the signer; the manifest path itself is left to ``formats.paths``.
    """
    if not isinstance(payload, Mapping) or not payload:
        raise MissingPayload()
    try:
        fields = msgspec.convert(dict(payload), type=EncryptedInitPayload)
    except msgspec.ValidationError as exc:
        # msgspec names the field and the expected type, never the value.
        raise InvalidPayload(f"Invalid encrypted init payload: {exc}") from None
    eph_pub = decode_hex(fields.eph_pub_hex, "ephPubHex")
    ciphertext = decode_hex(fields.ciphertext_hex, "ciphertextHex")
    nonce = decode_hex(fields.nonce_hex, "nonceHex")
    signature = decode_hex(fields.signature_hex, "signatureHex")
    aad = decode_hex(fields.aad_hex or "", "aadHex")
    if len(nonce) != NONCE_SIZE:
        raise InvalidNonceSize()
    # ecdh_x parses the point first: a malformed ephemeral key is InvalidPayload.
    key = derive_key(host_key.ecdh_x(eph_pub))
    plaintext = _decrypt(key, nonce, ciphertext, aad)
    data = _decode_plaintext(plaintext)
    session_key = _session_key(data.session_key)
    client_address = _signer(signature, signed_digest(ciphertext), data, require_signer_match)
    return SessionInit(
        client_address=client_address,
        session_key=session_key,
        job_id=data.job_id,
        model_name=data.model_name,
        price_per_token=data.price_per_token,
        vector_database=data.vector_database,
        recovery_public_key=data.recovery_public_key,
    )


def seal_session_init(
    plaintext: Mapping[str, Any] | bytes,
    host_public_key: bytes,
    signer_private_key: bytes,
    *,
    eip191: bool = False,
    v_base: int = 27,
    aad: bytes = b"",
) -> dict[str, str]:
    """Client side: encrypt ``plaintext`` to the host and sign it; return the payload dict.

    A mapping is JSON-encoded; bytes are sent as they are. Each call uses a fresh ephemeral
    key and a random nonce. The signature is over ``d`` itself or its EIP-191 form, with ``v``
    written as 27/28 (``v_base=27``) or 0/1 (``v_base=0``).
    """
    if v_base not in (0, 27):
        raise ValueError("v_base must be 0 or 27")
    ephemeral = generate_private_key()
    key = derive_key(ecdh_x(ephemeral, host_public_key))
    nonce = os.urandom(NONCE_SIZE)
    message = plaintext if isinstance(plaintext, bytes) else msgspec.json.encode(plaintext)
    ciphertext = crypto_aead_xchacha20poly1305_ietf_encrypt(message, aad, nonce, key)
    d = signed_digest(ciphertext)
    signature = bytearray(sign_recoverable(signer_private_key, eip191_hash(d) if eip191 else d))
    signature[64] += v_base
    return {
        "ephPubHex": "0x" + public_key_from_private(ephemeral).hex(),
        "ciphertextHex": "0x" + ciphertext.hex(),
        "nonceHex": "0x" + nonce.hex(),
        "signatureHex": "0x" + bytes(signature).hex(),
        "aadHex": aad.hex(),
    }


def _decrypt(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    if len(ciphertext) < TAG_SIZE:
        raise DecryptionFailed()
    try:
        return bytes(crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, aad, nonce, key))
    except CryptoError:
        raise DecryptionFailed() from None


def _decode_plaintext(plaintext: bytes) -> _Plaintext:
    try:
        return msgspec.json.decode(plaintext, type=_Plaintext)
    except msgspec.ValidationError as exc:
        # Our schema has no enums or literals, so msgspec's text holds field paths, not values.
        raise InvalidPayload(f"The decrypted payload is not a valid session init: {exc}") from None
    except msgspec.DecodeError:
        raise InvalidPayload("The decrypted payload is not JSON") from None


def _session_key(text: str) -> bytes:
    body = strip_0x(text)
    if not _SESSION_KEY.fullmatch(body):
        raise InvalidPayload("sessionKey must be 0x followed by 64 hex digits")
    return bytes.fromhex(body)


def _signer(signature: bytes, d: bytes, data: _Plaintext, require_match: bool) -> str:
    """Apply SPEC 2.2's signer rule to the addresses recovered from ``d`` and its EIP-191 form."""
    raw = address_from_public_key(recover_public_key(signature, d))
    database = data.vector_database
    if database is None:
        return raw
    if not is_valid_address(database.user_address):
        raise InvalidAddress()
    personal = address_from_public_key(recover_public_key(signature, eip191_hash(d)))
    wanted = database.user_address.lower()
    for candidate in (raw, personal):
        if candidate.lower() == wanted:
            return candidate
    if require_match:
        raise OwnerMismatch("The init payload was not signed by vectorDatabase.userAddress")
    return raw
