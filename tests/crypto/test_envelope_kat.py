"""Known answers for the envelope's building blocks, and a payload built from the spec alone."""

import hashlib

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)

from s5vec.crypto.envelope import derive_key, open_session_init, signed_digest
from s5vec.crypto.ethereum import address_from_public_key
from s5vec.crypto.secp256k1 import HostKey, public_key_from_private, sign_recoverable

# RFC 5869 appendix A.3: SHA-256, zero-length salt and info.
RFC5869_TC3_IKM = bytes([0x0B]) * 22
RFC5869_TC3_OKM = bytes.fromhex(
    "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
)

# draft-irtf-cfrg-xchacha-03 appendix A.3.1.
XCHACHA_KEY = bytes(range(0x80, 0xA0))
XCHACHA_NONCE = bytes(range(0x40, 0x58))
XCHACHA_AAD = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
XCHACHA_PLAINTEXT = (
    b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
    b"future, sunscreen would be it."
)
XCHACHA_CIPHERTEXT_AND_TAG = bytes.fromhex(
    "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
    "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
    "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
    "21f9664c97637da9768812f615c68b13b52e"
    "c0875924c1c7987947deafd8780acf49"
)

TWO_G_X = bytes.fromhex("c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5")


def test_derive_key_is_rfc5869_hkdf_with_no_salt_and_empty_info() -> None:
    # HKDF output is a prefix-stable stream, so the 32-byte key is the first 32 bytes of the OKM.
    assert derive_key(RFC5869_TC3_IKM) == RFC5869_TC3_OKM[:32]
    full = HKDF(algorithm=SHA256(), length=42, salt=None, info=b"").derive(RFC5869_TC3_IKM)
    assert full == RFC5869_TC3_OKM


def test_xchacha20poly1305_matches_the_draft_vector() -> None:
    sealed = crypto_aead_xchacha20poly1305_ietf_encrypt(
        XCHACHA_PLAINTEXT, XCHACHA_AAD, XCHACHA_NONCE, XCHACHA_KEY
    )
    assert sealed == XCHACHA_CIPHERTEXT_AND_TAG
    opened = crypto_aead_xchacha20poly1305_ietf_decrypt(
        XCHACHA_CIPHERTEXT_AND_TAG, XCHACHA_AAD, XCHACHA_NONCE, XCHACHA_KEY
    )
    assert opened == XCHACHA_PLAINTEXT


def test_signed_digest_is_sha256_of_ciphertext_with_tag() -> None:
    assert (
        signed_digest(XCHACHA_CIPHERTEXT_AND_TAG)
        == hashlib.sha256(XCHACHA_CIPHERTEXT_AND_TAG).digest()
    )


def test_opens_a_payload_built_step_by_step_from_the_spec() -> None:
    # Host private key 2, ephemeral private key 1: the shared point is 2G, whose x is known.
    host = HostKey((2).to_bytes(32, "big"))
    eph_pub = public_key_from_private((1).to_bytes(32, "big"))
    key = HKDF(algorithm=SHA256(), length=32, salt=None, info=b"").derive(TWO_G_X)
    nonce = bytes(range(24))
    session_key = bytes(range(100, 132))
    plaintext = (
        b'{"jobId":"123","modelName":"m","sessionKey":"0x' + session_key.hex().encode() + b'",'
        b'"pricePerToken":2000}'
    )
    ciphertext = crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, b"", nonce, key)
    signer = (7).to_bytes(32, "big")
    signature = sign_recoverable(signer, hashlib.sha256(ciphertext).digest())

    opened = open_session_init(
        {
            "ephPubHex": eph_pub.hex(),
            "ciphertextHex": ciphertext.hex(),
            "nonceHex": "0x" + nonce.hex(),
            "signatureHex": signature.hex(),
            "aadHex": "",
        },
        host,
    )
    assert opened.session_key == session_key
    assert opened.job_id == "123"
    assert opened.model_name == "m"
    assert opened.price_per_token == 2000
    assert opened.client_address == address_from_public_key(public_key_from_private(signer))
