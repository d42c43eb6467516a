"""Vector metadata as JSON can carry it: what search results send back to clients.

JSON chunks hold JSON by construction. CBOR chunks may hold more, so their metadata is
brought to JSON values: CBOR ``undefined`` (a JavaScript ``undefined`` property) becomes
``null``; a date (CBOR tag 0/1, a JavaScript ``Date``) becomes its ISO 8601 text as
``Date.toJSON`` writes it; absent or ``null`` metadata is ``{}``. Anything JSON has no form
for (byte strings, unknown tags, non-text keys, sets) is a ``CHUNK_PARSE_ERROR`` naming the
vector's position, never its content.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import cbor2
import orjson

from s5vec.errors import ChunkParseError

_SCALARS = (str, int, float, bool, type(None))


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
            # One C pass proves the common case (plain JSON values) without a Python walk;
            # datetimes must fail it too, to be converted below.
            orjson.dumps(out, option=orjson.OPT_PASSTHROUGH_DATETIME)
        except TypeError:
            pass
        else:
            return out
    for index, item in enumerate(out):
        if not isinstance(item, dict):
            raise ChunkParseError(
                f"Chunk {chunk_id}: the metadata of vector {index} is not an object"
            )
        try:
            out[index] = _json_value(item)
        except RecursionError:
            reason = "values nested too deeply"
        except MetadataError as exc:
            reason = str(exc)
        else:
            continue
        raise ChunkParseError(f"Chunk {chunk_id}: the metadata of vector {index} holds {reason}")
    return out
