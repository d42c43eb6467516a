"""Plaintext recognition: is a file one complete CBOR item or JSON text, and which.

"Plaintext" means bytes that decode completely (no trailing bytes) as one CBOR map or one
JSON object. Anything else (ciphertext, truncation, a bare number, trailing garbage) is
``NotPlaintext``, which the caller turns into the error SPEC section 5 names for that file.
"""

from __future__ import annotations

import io
from typing import Any, Literal

import cbor2
import msgspec

Format = Literal["cbor", "json"]

_JSON_WHITESPACE = b" \t\r\n"


class NotPlaintext(Exception):
    """The bytes are neither one complete CBOR map nor one complete JSON object."""


def looks_like_json(data: bytes | memoryview) -> bool:
    """Whether the first byte after JSON whitespace is ``{``, as in every JSON file we read."""
    view = memoryview(data)
    for index in range(len(view)):
        byte = view[index]
        if byte not in _JSON_WHITESPACE:
            return byte == 0x7B
    return False


def format_order(data: bytes | memoryview) -> tuple[Format, Format]:
    """The two formats, the likely one first: a CBOR map never starts with ``{`` or whitespace."""
    return ("json", "cbor") if looks_like_json(data) else ("cbor", "json")


def load_cbor(data: bytes | memoryview) -> Any:
    """Decode exactly one CBOR item spanning all of ``data``; NotPlaintext otherwise."""
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except Exception:
        # cbor2 is foreign code fed untrusted bytes: any failure means "not CBOR".
        raise NotPlaintext() from None
    if stream.tell() != len(data):
        raise NotPlaintext()
    return value


def load_json(data: bytes | memoryview) -> Any:
    """Decode one JSON document spanning all of ``data``; NotPlaintext otherwise."""
    if not looks_like_json(data):
        raise NotPlaintext()
    try:
        return msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec reports bad UTF-8 as the latter
        raise NotPlaintext() from None


def load_map(data: bytes | memoryview) -> tuple[dict[Any, Any], Format]:
    """Decode a whole file as a CBOR map or JSON object, trying the likely format first."""
    for fmt in format_order(data):
        try:
            value = load_cbor(data) if fmt == "cbor" else load_json(data)
        except NotPlaintext:
            continue
        if isinstance(value, dict):
            return value, fmt
    raise NotPlaintext()
