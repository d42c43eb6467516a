"""Strict hex decoding for wire fields: ``0x`` optional, ASCII hex digits only, even length."""

from __future__ import annotations

import re

from s5vec.errors import InvalidHexEncoding

# bytes.fromhex alone would also accept spaces; the explicit class keeps it ASCII-only.
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")


def strip_0x(text: str) -> str:
    """Drop one leading ``0x`` / ``0X`` if present."""
    return text[2:] if text[:2] in ("0x", "0X") else text


def decode_hex(text: str, field: str) -> bytes:
    """Decode ``text`` (``0x`` optional); raise InvalidHexEncoding naming ``field`` only."""
    body = strip_0x(text)
    if len(body) % 2 or not _HEX_DIGITS.fullmatch(body):
        raise InvalidHexEncoding(f"{field} is not valid hex")
    return bytes.fromhex(body)
