"""Manifest and chunk paths (SPEC 2.3): ``home/vector-databases/<address>/<name>/manifest.json``.

Validation is deliberately narrow: one fixed shape, ASCII hex addresses, and a database name
that cannot turn into a separator or a dot segment under Unicode compatibility normalisation.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from s5vec.crypto.ethereum import is_valid_address
from s5vec.errors import InvalidAddress, InvalidPath, OwnerMismatch

MAX_PATH_BYTES = 1024
ROOT = ("home", "vector-databases")
MANIFEST_FILE = "manifest.json"
_ADDRESS_SEGMENT = re.compile(r"0x[0-9a-fA-F]{40}")
# Control, format (zero-width, bidi overrides), surrogate, private-use, unassigned, and
# line/paragraph separators: invisible or ambiguous in a path.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Slash look-alikes that NFKC leaves alone (the fullwidth forms are caught by NFKC itself).
_SLASH_LOOKALIKES = frozenset("\u2044\u2215\u2216\u29f8\u29f9")


@dataclass(frozen=True, slots=True)
class ParsedManifestPath:
    """A validated manifest path: owner address (as written), database name, its directory."""

    address: str
    db_name: str
    directory: str


def validate_manifest_path(path: object) -> ParsedManifestPath:
    """Check ``path`` against SPEC 2.3 and split it; raise InvalidPath on any violation."""
    if not isinstance(path, str) or not path:
        raise InvalidPath()
    if len(path) > MAX_PATH_BYTES or _utf8_length(path) > MAX_PATH_BYTES:
        raise InvalidPath("manifest_path is longer than 1024 bytes")
    if "\\" in path or ".." in path:
        raise InvalidPath("manifest_path may not contain '..' or backslashes")
    for char in path:
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES or char in _SLASH_LOOKALIKES:
            raise InvalidPath("manifest_path contains a control or look-alike character")
    if unicodedata.normalize("NFKC", path) != unicodedata.normalize("NFC", path):
        raise InvalidPath("manifest_path contains characters that normalise to others")
    segments = path.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise InvalidPath("manifest_path has an empty or dot segment")
    if len(segments) != 5 or tuple(segments[:2]) != ROOT or segments[4] != MANIFEST_FILE:
        raise InvalidPath()
    address, db_name = segments[2], segments[3]
    if not _ADDRESS_SEGMENT.fullmatch(address):
        raise InvalidPath("manifest_path must name the owner as 0x followed by 40 hex digits")
    return ParsedManifestPath(
        address=address, db_name=db_name, directory="/".join((*ROOT, address, db_name))
    )


def validate_user_address(address: object) -> str:
    """Return ``address`` unchanged if ``0x`` + 40 hex (valid EIP-55 when mixed), else raise."""
    if not is_valid_address(address):
        raise InvalidAddress()
    return address


def check_path_owner(parsed: ParsedManifestPath, user_address: str) -> None:
    """Raise OwnerMismatch unless the path's address equals ``user_address`` (any case)."""
    if parsed.address.lower() != user_address.lower():
        raise OwnerMismatch("manifest_path belongs to a different address than user_address")


def chunk_path(manifest_path: str, chunk_id: int) -> str:
    """Return ``<manifest directory>/chunk-<chunk_id>.json`` for a valid manifest path."""
    if isinstance(chunk_id, bool) or not isinstance(chunk_id, int) or chunk_id < 0:
        raise ValueError("chunk_id must be a non-negative integer")
    return f"{validate_manifest_path(manifest_path).directory}/chunk-{chunk_id}.json"


def _utf8_length(path: str) -> int:
    try:
        return len(path.encode("utf-8"))
    except UnicodeEncodeError:
        # Lone surrogates cannot be stored at all.
        raise InvalidPath("manifest_path is not valid Unicode") from None
