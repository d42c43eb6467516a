"""secp256k1 keys (coincurve): point parsing, raw-x ECDH, recoverable signatures, host key."""

from __future__ import annotations

from coincurve import PrivateKey, PublicKey

from s5vec.crypto.hexcodec import decode_hex
from s5vec.errors import InvalidHexEncoding, InvalidPayload

PRIVATE_KEY_SIZE = 32
DIGEST_SIZE = 32
SIGNATURE_SIZE = 65
_COMPRESSED_PREFIXES = (0x02, 0x03)
_UNCOMPRESSED_PREFIX = 0x04


def parse_public_key(data: bytes) -> PublicKey:
    """Parse a 33-byte compressed or 65-byte uncompressed point; else InvalidPayload."""
    # libsecp256k1 also takes "hybrid" 0x06/0x07 keys; the wire format allows only these two.
    well_formed = (len(data) == 33 and data[0] in _COMPRESSED_PREFIXES) or (
        len(data) == 65 and data[0] == _UNCOMPRESSED_PREFIX
    )
    if not well_formed:
        raise InvalidPayload("The public key must be a 33- or 65-byte secp256k1 point")
    try:
        return PublicKey(data)
    except ValueError:
        raise InvalidPayload("The public key is not a point on secp256k1") from None


def uncompressed_public_key(public_key: bytes) -> bytes:
    """Return the 65-byte ``0x04 || x || y`` form of a 33- or 65-byte public key."""
    return bytes(parse_public_key(public_key).format(compressed=False))


def generate_private_key() -> bytes:
    """Return a fresh random 32-byte private key."""
    return bytes(PrivateKey().secret)


def public_key_from_private(private_key: bytes, compressed: bool = True) -> bytes:
    """Return the public key (33 bytes compressed, else 65) of a 32-byte private key."""
    return bytes(_private(private_key).public_key.format(compressed=compressed))


def ecdh_x(private_key: bytes, public_key: bytes) -> bytes:
    """Return the raw 32-byte x-coordinate of ``private_key * public_key`` (no hashing)."""
    # coincurve's PrivateKey.ecdh hashes the point with SHA-256; the spec wants raw x.
    shared = parse_public_key(public_key).multiply(_private(private_key).secret)
    return bytes(shared.format(compressed=True)[1:])


def sign_recoverable(private_key: bytes, digest: bytes) -> bytes:
    """Sign a 32-byte digest as is; return ``r || s || v`` with v in {0, 1}."""
    if len(digest) != DIGEST_SIZE:
        raise ValueError("the digest must be 32 bytes")
    return bytes(_private(private_key).sign_recoverable(digest, hasher=None))


def recover_public_key(signature: bytes, digest: bytes) -> bytes:
    """Recover the 65-byte uncompressed signer key from ``r || s || v`` over a 32-byte digest.

    ``v`` may be 0, 1, 27 or 28; anything else, or an unrecoverable signature, is InvalidPayload.
    """
    if len(digest) != DIGEST_SIZE:
        raise ValueError("the digest must be 32 bytes")
    if len(signature) != SIGNATURE_SIZE:
        raise InvalidPayload("The signature must be 65 bytes (r || s || v)")
    v = signature[64]
    if v in (27, 28):
        v -= 27
    elif v not in (0, 1):
        raise InvalidPayload("The signature recovery id v must be 0, 1, 27 or 28")
    try:
        key = PublicKey.from_signature_and_message(signature[:64] + bytes([v]), digest, hasher=None)
    except ValueError:
        raise InvalidPayload("The signature does not recover a public key") from None
    return bytes(key.format(compressed=False))


def _private(secret: bytes) -> PrivateKey:
    if len(secret) != PRIVATE_KEY_SIZE:
        raise ValueError("a private key must be 32 bytes")
    try:
        return PrivateKey(secret)
    except ValueError:
        # coincurve's message is fine, but say it without numbers derived from the input.
        raise ValueError("the private key is out of range for secp256k1") from None


class HostKey:
    """The host's long-lived secp256k1 key; its repr and str show only the public key."""

    __slots__ = ("_key",)

    def __init__(self, private_key: bytes) -> None:
        self._key = _private(private_key)

    @classmethod
    def from_hex(cls, text: str) -> HostKey:
        """Parse 64 hex digits (``0x`` optional); ValueError with a key-free message otherwise."""
        stripped = text.strip()
        try:
            secret = decode_hex(stripped, "host private key")
        except InvalidHexEncoding:
            secret = b""
        if len(secret) != PRIVATE_KEY_SIZE:
            raise ValueError("the host private key must be 64 hex digits (0x optional)")
        return cls(secret)

    @classmethod
    def generate(cls) -> HostKey:
        """Return a fresh random host key."""
        return cls(generate_private_key())

    @property
    def public_key_compressed(self) -> bytes:
        """The 33-byte compressed public key."""
        return bytes(self._key.public_key.format(compressed=True))

    @property
    def public_key_compressed_hex(self) -> str:
        """The compressed public key as ``0x02..`` / ``0x03..`` (what ``/v1/host-key`` serves)."""
        return "0x" + self.public_key_compressed.hex()

    def ecdh_x(self, public_key: bytes) -> bytes:
        """Raw 32-byte x-coordinate shared with ``public_key`` (InvalidPayload if malformed)."""
        return ecdh_x(bytes(self._key.secret), public_key)

    def export_private_key_hex(self) -> str:
        """The private key as 64 lower-case hex digits, only for persisting the key file."""
        return bytes(self._key.secret).hex()

    def __repr__(self) -> str:
        return f"HostKey(public_key={self.public_key_compressed_hex})"

    __str__ = __repr__
