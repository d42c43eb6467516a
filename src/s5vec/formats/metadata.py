"""Vector metadata as JSON can carry it: what search results send back to clients.

Metadata nested more than ``MAX_METADATA_DEPTH`` levels is refused in both formats (a reply
could not carry it). JSON chunks hold JSON by construction. CBOR chunks may hold more, so
their metadata is brought to JSON values: CBOR ``undefined`` (a JavaScript ``undefined``
property) becomes ``null``; a date (CBOR tag 0/1, a JavaScript ``Date``) becomes its ISO 8601
text as ``Date.toJSON`` writes it; absent or ``null`` metadata is ``{}``. Anything JSON has no
form for (byte strings, unknown tags, non-text keys, sets) is a ``CHUNK_PARSE_ERROR`` naming
the vector's position, never its content.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import cbor2
import orjson

from s5vec.errors import ChunkParseError

_SCALARS = (str, int, float, bool, type(None))

MAX_METADATA_DEPTH = 200
"""Deepest nesting of objects and arrays in one vector's metadata. Search replies carry it
three levels further in, and the JSON encoder (orjson) writes at most 254 levels."""
_ENCODER_DEPTH = 254
_WRAPPING = _ENCODER_DEPTH - 1 - MAX_METADATA_DEPTH
"""Lists put around the list of records so that the one orjson pass below also proves the
depth bound: it fails exactly when a record nests more than ``MAX_METADATA_DEPTH`` levels."""


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and objects in ``value`` nest more than ``limit`` levels (iterative)."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


class MetadataError(ValueError):
    """Metadata that JSON cannot carry; the message says why, never what."""


def _json_value(value: Any) -> Any:
    """``value`` as a JSON value, converting what has a natural JSON form."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise MetadataError("a key that is not text")
        return {key: _json_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    if value is cbor2.undefined:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    raise MetadataError(f"a value JSON cannot carry ({type(value).__name__})")


def json_metadata(raw: list[Any], chunk_id: int) -> list[dict[str, Any]]:
    """Each vector's metadata as a JSON object; ChunkParseError for anything else."""
    out = [{} if item is None or item is cbor2.undefined else item for item in raw]
    if all(type(item) is dict for item in out):
        try:
            # One C pass proves the common case (plain JSON values, not too deep) without a
            # Python walk; datetimes must fail it too, to be converted below.
            wrapped: Any = out
            for _ in range(_WRAPPING):
                wrapped = [wrapped]
            orjson.dumps(wrapped, option=orjson.OPT_PASSTHROUGH_DATETIME)
        except TypeError:
            pass
        else:
            return out
    for index, item in enumerate(out):
        if not isinstance(item, dict):
            raise ChunkParseError(
                f"Chunk {chunk_id}: the metadata of vector {index} is not an object"
            )
        if nested_deeper_than(item, MAX_METADATA_DEPTH):
            reason = f"values nested more than {MAX_METADATA_DEPTH} levels deep"
        else:
            try:
                out[index] = _json_value(item)
            except MetadataError as exc:
                reason = str(exc)
            else:
                continue
        raise ChunkParseError(f"Chunk {chunk_id}: the metadata of vector {index} holds {reason}")
    return out
