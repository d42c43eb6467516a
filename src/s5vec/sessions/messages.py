"""The four client messages (SPEC sections 2 and 4), each declared once; decoding validates.

The ``session_init`` family is snake_case and also accepts the camelCase spellings of its
keys (``sessionId``, ``jobId``, ``chainId``, ``vectorDatabase`` with ``manifestPath`` and
``userAddress``): they are renamed to the snake_case names before decoding, and when a
message carries both spellings of one key the snake_case one wins. ``uploadVectors`` and
``searchVectors`` are camelCase only. Unknown fields are ignored everywhere.

A field of the wrong type, or a missing required one, is ``INVALID_MESSAGE`` with msgspec's
description, which names the field and the expected type but never echoes the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import msgspec

from s5vec.errors import InvalidMessage
from s5vec.formats.metadata import nested_deeper_than

SessionId = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
"""Bounded so a session id can go into every log line."""

Echoed = str | int | float | None
"""``job_id`` / ``chain_id``: a number or a string, echoed in the ack as received."""

RequestId = str | int | None
"""``requestId`` of the vector messages (echoed as received; replies carry null if absent)."""


class VectorDatabaseSpec(msgspec.Struct, frozen=True):
    """The database a plain init names; the path rules are checked by ``formats.paths``."""

    manifest_path: str
    user_address: str


class SessionInitMessage(msgspec.Struct, frozen=True, kw_only=True):
    """``session_init`` (SPEC 2.1): no key, so only a plaintext database can load."""

    session_id: SessionId
    job_id: Echoed = None
    chain_id: Echoed = None
    vector_database: VectorDatabaseSpec | None = None


class EncryptedSessionInitMessage(msgspec.Struct, frozen=True, kw_only=True):
    """``encrypted_session_init`` (SPEC 2.2); ``crypto.envelope`` validates the payload."""

    session_id: SessionId
    job_id: Echoed = None
    chain_id: Echoed = None
    payload: Any = None
    """Left untyped here: a missing or malformed payload has its own wire codes."""


class UploadVectorsMessage(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``uploadVectors`` (SPEC 4); each record is validated alone by ``index.UploadedVectors``."""

    request_id: RequestId = None
    replace: bool = False
    vectors: list[Any]


class SearchVectorsMessage(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``searchVectors`` (SPEC 4); ranges, dimension and filter are checked by ``index``."""

    request_id: RequestId = None
    query_vector: list[float]
    k: int
    threshold: float | None = None
    metadata_filter: dict[str, Any] | None = None


INIT_TYPES = frozenset({"session_init", "encrypted_session_init"})
VECTOR_TYPES = frozenset({"uploadVectors", "searchVectors"})

_INIT_ALIASES = {
    "sessionId": "session_id",
    "jobId": "job_id",
    "chainId": "chain_id",
    "vectorDatabase": "vector_database",
}
_DATABASE_ALIASES = {"manifestPath": "manifest_path", "userAddress": "user_address"}

M = TypeVar("M", bound=msgspec.Struct)


def decode_init(message: Mapping[str, Any], kind: type[M]) -> M:
    """Decode a ``session_init`` family message, accepting both key spellings."""
    fields = _renamed(message, _INIT_ALIASES)
    database = fields.get("vector_database")
    if isinstance(database, Mapping):
        fields["vector_database"] = _renamed(database, _DATABASE_ALIASES)
    return decode(fields, kind)


def decode(message: Mapping[str, Any], kind: type[M]) -> M:
    """Decode ``message`` into ``kind``; InvalidMessage naming the offending field."""
    try:
        return msgspec.convert(message, type=kind)
    except msgspec.ValidationError as exc:
        raise InvalidMessage(f"{message.get('type')}: {exc}") from None


def _renamed(fields: Mapping[str, Any], aliases: Mapping[str, str]) -> dict[str, Any]:
    """``fields`` with each alias renamed to its canonical key (the canonical one wins)."""
    out = dict(fields)
    for alias, name in aliases.items():
        if alias in out:
            value = out.pop(alias)
            out.setdefault(name, value)
    return out


MAX_ECHO_DEPTH = 200
"""Deepest nesting of an echoed ``id`` / ``session_id`` / ``requestId``: a reply nests it one
level further, and the JSON encoder stops at 254 levels, so a deeper one could not be sent."""


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """What an error reply to a message echoes, read from the raw message before decoding,
    so even a message that fails validation gets its ``id`` (and ``session_id`` or
    ``requestId``) back. An echo field nested past ``MAX_ECHO_DEPTH`` is not echoed
    (``unechoable`` names it) and the message is refused."""

    type: str | None
    id: Any
    """The message's ``id`` as received, or ``msgspec.UNSET`` when it had none."""
    session_id: Any
    """Init messages: ``session_id`` / ``sessionId`` as received (None if absent); else UNSET."""
    request_id: Any
    """Vector messages: ``requestId`` as received (None if absent); else UNSET."""
    unechoable: str | None = None
    """The echo field (its wire name) nested too deeply to be sent back, if any."""

    @classmethod
    def of(cls, message: Mapping[str, Any]) -> ReplyContext:
        """Read the echo fields of ``message``."""
        kind = message.get("type")
        kind = kind if isinstance(kind, str) else None
        fields: dict[str, Any] = {"id": message.get("id", msgspec.UNSET)}
        fields["session_id"] = fields["request_id"] = msgspec.UNSET
        if kind in INIT_TYPES:
            fields["session_id"] = message.get("session_id", message.get("sessionId"))
        elif kind in VECTOR_TYPES:
            fields["request_id"] = message.get("requestId")
        deep = [name for name, v in fields.items() if nested_deeper_than(v, MAX_ECHO_DEPTH)]
        if not deep:
            return cls(kind, **fields)
        for name in deep:  # none of them goes back, or the reply could not be encoded
            fields[name] = msgspec.UNSET if name == "id" else None
        return cls(kind, unechoable=_WIRE_NAMES.get(deep[0], deep[0]), **fields)


_WIRE_NAMES = {"request_id": "requestId"}
