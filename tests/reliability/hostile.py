"""Hostile inputs (hypothesis strategies) and what SPEC sections 2-5 say each must get.

The oracles here are written from the SPEC, not from the product's validators, so a fuzz
test compares the host against an independent reading of the contract.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any

from Crypto.Hash import keccak
from hypothesis import strategies as st

MAX_DIMS = 4096
MAX_METADATA_BYTES = 10 * 1024
MAX_K = 100

# --- values -----------------------------------------------------------------------------

HUGE_NUMBERS = st.sampled_from(
    [
        2**63 - 1,
        2**63,
        2**64 - 1,
        2**64,
        -(2**63) - 1,
        10**30,
        -(10**30),
        10**400,
        1.7976931348623157e308,
        -1.7976931348623157e308,
        5e-324,
        1e-310,
        -0.0,
    ]
)
"""Numbers at and past every width a decoder may use; JSON carries them as written."""

UNICODE_TRICKS = st.sampled_from(
    [
        "\u202e",  # right-to-left override
        "\u200b",  # zero-width space
        "\ufeff",  # byte order mark
        "\u0000",
        "\u2044",  # fraction slash
        "\u2215",  # division slash
        "\uff0f",  # fullwidth solidus (NFKC: '/')
        "\uff0e",  # fullwidth full stop (NFKC: '.')
        "\u2024",  # one dot leader (NFKC: '.')
        "\u0301",  # combining acute accent
        "e\u0301",  # decomposed é
        "\u00e9",  # precomposed é
        "\u0660",  # Arabic-Indic digit zero
        "\uff10",  # fullwidth digit zero
        "\ud83d\ude00",  # an emoji as a surrogate pair in JSON
        "%2e%2e",
        "%2f",
        "%00",
        "\\",
        "..",
        ".",
        "~",
        "\n",
    ]
)
"""Characters that look like separators, dots or digits, or hide themselves (one surrogate
pair, which JSON carries as two escapes)."""
STORABLE_TRICKS = UNICODE_TRICKS.map(lambda t: t.encode("utf-16", "surrogatepass").decode("utf-16"))
"""The same as text a file can hold (the surrogate pair joined into one character)."""

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    HUGE_NUMBERS,
    st.text(max_size=20),
    UNICODE_TRICKS,
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=10) | UNICODE_TRICKS, children, max_size=5)
    ),
    max_leaves=25,
)


def nested(depth: int, leaf: Any = 1, as_dict: bool = False) -> Any:
    """``leaf`` wrapped in ``depth`` lists (or single-key objects)."""
    value = leaf
    for _ in range(depth):
        value = {"n": value} if as_dict else [value]
    return value


DEPTHS = (50, 200, 253, 254, 255, 256, 300, 500, 800)
"""Nesting depths around the limits that matter: orjson writes at most 254 levels, Python
recurses about 1000 frames deep, and the host's JSON parser stops at 1024."""


def deep(max_depth: int = DEPTHS[-1], depths: tuple[int, ...] = DEPTHS) -> st.SearchStrategy[Any]:
    """Values nested up to ``max_depth`` levels (deeper documents are sent as raw text: the
    test's own encoder recurses too)."""
    return st.builds(
        nested,
        st.sampled_from([d for d in depths if d <= max_depth]),
        st.sampled_from([1, "x", None, []]),
        st.booleans(),
    )


deep_values = deep()
hostile_values = st.one_of(json_values, deep_values, HUGE_NUMBERS, UNICODE_TRICKS)
echo_values = st.one_of(json_values, deep(300), HUGE_NUMBERS, UNICODE_TRICKS)
"""For fields the reply echoes (``id``, ``session_id``, ``requestId``): echoed as received up
to 200 levels; deeper ones get INVALID_MESSAGE without the echo (sessions/messages.py)."""
filter_values = st.one_of(json_values, deep(300), HUGE_NUMBERS, UNICODE_TRICKS)
"""For filter operands: past 203 levels a filter is INVALID_MESSAGE (index/filters.py)."""


def dumps(value: Any) -> str:
    """JSON text as a client could write it: any int, and never NaN (see ``NON_FINITE``)."""
    return json.dumps(value, allow_nan=False)


def as_received(value: Any) -> Any:
    """``value`` as the host's JSON parser sees it (surrogate pairs joined, and so on)."""
    return json.loads(dumps(value))


NON_FINITE_TEXT = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
"""How non-finite numbers reach a JSON host: none of them is JSON."""


def is_number(value: Any) -> bool:
    """A JSON number (``bool`` is not one)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_float(value: Any) -> float | None:
    """The float a JSON number denotes, or None when it is not finite as a double."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


# --- addresses and paths ------------------------------------------------------------------


def checksum(address: str) -> str:
    """EIP-55 form of a ``0x`` + 40 hex address (any case)."""
    lower = address[2:].lower()
    digest = keccak.new(digest_bits=256, data=lower.encode()).hexdigest()
    return "0x" + "".join(
        c.upper() if int(n, 16) >= 8 else c for c, n in zip(lower, digest[:40], strict=True)
    )


_HEX40 = re.compile(r"0x[0-9a-fA-F]{40}")


def address_is_valid(address: Any) -> bool:
    """SPEC 2.3: ``0x`` + 40 hex; mixed case must be the EIP-55 checksum."""
    if not isinstance(address, str) or not _HEX40.fullmatch(address):
        return False
    body = address[2:]
    return body in (body.lower(), body.upper()) or checksum(address) == address


hex40 = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())


@st.composite
def addresses(draw: st.DrawFn) -> Any:
    """Valid addresses in every case form, and near misses."""
    base = draw(hex40)
    form = draw(
        st.sampled_from(
            ["lower", "upper", "checksum", "flipped", "short", "long", "no0x", "unicode", "junk"]
        )
    )
    if form == "lower":
        return base
    if form == "upper":
        return "0x" + base[2:].upper()
    if form == "checksum":
        return checksum(base)
    if form == "flipped":  # one letter's case flipped in a checksummed address
        good = checksum(base)
        letters = [i for i, c in enumerate(good) if i > 1 and c.isalpha()]
        if not letters:
            return good
        i = draw(st.sampled_from(letters))
        return good[:i] + good[i].swapcase() + good[i + 1 :]
    if form == "short":
        return base[:-1]
    if form == "long":
        return base + "0"
    if form == "no0x":
        return base[2:] + "00"
    if form == "unicode":  # a look-alike digit in place of one hex digit
        i = draw(st.integers(2, 41))
        return base[:i] + draw(st.sampled_from(["\u0660", "\uff10", "\u00bd"])) + base[i + 1 :]
    return draw(json_values)


name_parts = st.one_of(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=12),
    st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True),
    UNICODE_TRICKS,
)
database_names = st.lists(name_parts, min_size=1, max_size=3).map("".join)


@st.composite
def manifest_paths(draw: st.DrawFn, owner: str) -> str:
    """Paths under ``owner``'s directory, with traversal and look-alike tricks mixed in."""
    name = draw(database_names)
    owner_segment = draw(
        st.sampled_from([owner, owner.lower(), owner.upper()[2:], "0x" + "0" * 40])
    )
    shape = draw(
        st.sampled_from(["plain", "traverse", "extra", "missing", "prefix", "long", "absolute"])
    )
    if shape == "traverse":
        up = draw(st.sampled_from(["..", "%2e%2e", "\uff0e\uff0e", ".", ""]))
        tail = draw(
            st.sampled_from(["victim/manifest.json", "x/../../etc/passwd", "manifest.json"])
        )
        return f"home/vector-databases/{owner_segment}/{up}/{tail}"
    if shape == "extra":
        return f"home/vector-databases/{owner_segment}/{name}/sub/manifest.json"
    if shape == "missing":
        return f"home/vector-databases/{owner_segment}/manifest.json"
    if shape == "prefix":
        root = draw(st.sampled_from(["home/vector-database", "Home/vector-databases", "home"]))
        return f"{root}/{owner_segment}/{name}/manifest.json"
    if shape == "long":
        return f"home/vector-databases/{owner_segment}/{'n' * 1000}{name}/manifest.json"
    if shape == "absolute":
        return f"/home/vector-databases/{owner_segment}/{name}/manifest.json"
    return f"home/vector-databases/{owner_segment}/{name}/manifest.json"


_PATH = re.compile(r"home/vector-databases/(0x[0-9a-fA-F]{40})/([^/]+)/manifest\.json")


def path_verdict(path: Any) -> tuple[bool | None, str | None]:
    """(valid?, address segment) by SPEC 2.3: None when the SPEC leaves it to the host.

    The SPEC fixes the shape, forbids ``..`` and empty segments and bounds the length; it
    does not say whether invisible or look-alike characters in the name are allowed, so a
    name holding any (a control, format or combining character, one NFKC changes, a slash,
    backslash or dot look-alike) or the name "." may go either way.
    """
    if not isinstance(path, str):
        return False, None
    match = _PATH.fullmatch(path)
    if match is None or ".." in path or len(path.encode("utf-8", "surrogatepass")) > 1024:
        return False, None
    name = match.group(2)
    tricky = name == "." or any(_looks_tricky(c) for c in name)
    return (None if tricky else True), match.group(1)


ACK = "ack"
"""In a set of allowed outcomes: a ``session_init_ack`` is allowed."""


_LOOKALIKE_WORDS = ("SOLIDUS", "SLASH", "FULL STOP", "DOT LEADER", "PERIOD")


def _looks_tricky(char: str) -> bool:
    """Invisible, combining, changed by NFKC, or named like a separator or a dot."""
    return (
        unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Mn")
        or unicodedata.normalize("NFKC", char) != char
        or any(word in unicodedata.name(char, "") for word in _LOOKALIKE_WORDS)
    )


def init_codes(path: Any, address: Any) -> set[str]:
    """Outcomes SPEC 2.3 allows for an init naming (``path``, ``address``): error codes, and
    ``ACK`` when an acknowledgement is allowed."""
    path_ok, path_address = path_verdict(path)
    codes: set[str] = set()
    if path_ok is not True:
        codes.add("INVALID_PATH")
    address_ok = address_is_valid(address)
    if not address_ok:
        codes.add("INVALID_ADDRESS")
    if address_ok and path_address is not None and path_address.lower() != address.lower():
        codes.add("OWNER_MISMATCH")
    if not codes or (path_ok is None and codes == {"INVALID_PATH"}):
        codes.add(ACK)
    return codes
