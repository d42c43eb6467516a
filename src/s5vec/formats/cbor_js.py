"""CBOR written byte for byte as s5.js writes a JavaScript object (cbor-x, ``useFloat32: 0``).

What s5.js does (``src/fs/dirv1/cbor-config.ts``, ``encodeS5``): the object handed to
``fs.put`` becomes a Map of its entries sorted with ``localeCompare``; that Map is written
with a minimal header. Nested plain objects are not converted, so cbor-x writes them in
insertion order behind a 16-bit map header (``0xb9 nn nn``, ``variableMapSize: false``).
Numbers follow cbor-x: an integral value in ``[-2^32, 2^32)`` (``-0`` included, which
becomes ``0``) is a CBOR integer, every other number a float64 (``0xfb``). Arrays and
strings get minimal headers. The schema's own keys sort the same under ``localeCompare`` and
code-point order, which is what we use (checked against cbor-x in the fixture tests).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

import cbor2
import numpy as np
import numpy.typing as npt

_INT_LOW = -(2**32)
_INT_HIGH = 2**32
_MAP16_LIMIT = 0x10000
_F64 = struct.Struct(">d")
_ITEM = np.dtype([("tag", "u1"), ("value", ">f8")])


def _number(encoder: cbor2.CBOREncoder, value: float | int) -> None:
    """Write a JavaScript number: an integer when integral and in cbor-x's integer range."""
    if _INT_LOW <= value < _INT_HIGH and value == int(value):
        encoder.encode_int(int(value))
    else:
        encoder.write(b"\xfb" + _F64.pack(float(value)))


def _object(encoder: cbor2.CBOREncoder, value: dict[Any, Any]) -> None:
    """Write a nested plain object: map16 header, insertion order (cbor-x ``writeObject``)."""
    if len(value) >= _MAP16_LIMIT:
        raise ValueError("an object with 65536 or more keys cannot be written like s5.js")
    encoder.write(b"\xb9" + len(value).to_bytes(2, "big"))
    for key, item in value.items():
        encoder.encode(key)
        encoder.encode(item)


_ENCODERS: dict[type, Callable[[cbor2.CBOREncoder, Any], None]] = {
    float: _number,
    int: _number,
    dict: _object,
}


def dumps_nested(value: Any) -> bytes:
    """Encode a value that sits inside the top-level object (arrays, nested objects, scalars)."""
    return bytes(cbor2.dumps(value, encoders=_ENCODERS))


def _header(major: int, length: int) -> bytes:
    """A minimal CBOR length header for major type ``major``."""
    base = major << 5
    if length < 24:
        return bytes([base | length])
    for code, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes([base | code]) + length.to_bytes(size, "big")
    raise ValueError("length does not fit in a CBOR header")


def array_header(length: int) -> bytes:
    """The minimal header of an array of ``length`` items."""
    return _header(4, length)


def text(value: str) -> bytes:
    """A CBOR text string."""
    raw = value.encode("utf-8")
    return _header(3, len(raw)) + raw


def dumps_top(entries: Mapping[str, bytes]) -> bytes:
    """The outer object: a minimal map header, then keys sorted, each with its encoded value."""
    parts = [_header(5, len(entries))]
    for key in sorted(entries):
        parts.append(text(key))
        parts.append(entries[key])
    return b"".join(parts)


def vector_items(rows: npt.NDArray[np.float64]) -> list[bytes]:
    """Each row of a float64 matrix as a CBOR array, items written as cbor-x writes numbers."""
    count, width = rows.shape
    header = array_header(width)
    integral = (rows == np.trunc(rows)) & (rows >= _INT_LOW) & (rows < _INT_HIGH)
    needs_ints = integral.any(axis=1)
    items = np.empty((count, width), dtype=_ITEM)
    items["tag"] = 0xFB
    items["value"] = rows
    packed = items.tobytes()
    stride = width * _ITEM.itemsize
    out: list[bytes] = []
    for index in range(count):
        if needs_ints[index]:
            out.append(dumps_nested(rows[index].tolist()))
        else:
            out.append(header + packed[index * stride : (index + 1) * stride])
    return out
