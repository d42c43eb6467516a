"""Turning an init message into a session to start (SPEC 2.1-2.3), or the init's error.

Everything here runs while the init message is handled, before any ack: the payload and
its crypto, the signer, the manifest path, the address and the path's owner. Each failure
raises the ``S5VecError`` whose code the ``error`` frame carries; no load starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from s5vec.crypto.envelope import VectorDatabaseRef, open_session_init
from s5vec.crypto.secp256k1 import HostKey
from s5vec.errors import EncryptionNotSupported
from s5vec.formats.paths import check_path_owner, validate_manifest_path, validate_user_address
from s5vec.loader import LoadRequest
from s5vec.sessions.messages import (
    EncryptedSessionInitMessage,
    SessionInitMessage,
    VectorDatabaseSpec,
    decode_init,
)


@dataclass(frozen=True, slots=True)
class OpenedInit:
    """A valid init: what the ack echoes, and the load to start (None: no database)."""

    session_id: str
    job_id: Any
    chain_id: Any
    client_address: str | None
    """The recovered signer of an encrypted init; None for a plain one."""
    load: LoadRequest | None = field(repr=False)
    """Holds the session key of an encrypted init: never logged."""


def open_plain(message: Mapping[str, Any]) -> OpenedInit:
    """Validate a ``session_init``: the database it names is loaded without a key."""
    init = decode_init(message, SessionInitMessage)
    return OpenedInit(
        session_id=init.session_id,
        job_id=init.job_id,
        chain_id=init.chain_id,
        client_address=None,
        load=_load_request(init.vector_database, None),
    )


def open_encrypted(
    message: Mapping[str, Any], host_key: HostKey | None, *, require_signer_match: bool
) -> OpenedInit:
    """Validate an ``encrypted_session_init``; its database comes from the decrypted payload.

    ``job_id`` is echoed from the message when it carries one, else from the payload's
    ``jobId``. The session key is kept only when a database is named (it is the database's).
    """
    init = decode_init(message, EncryptedSessionInitMessage)
    if host_key is None:
        raise EncryptionNotSupported()
    opened = open_session_init(init.payload, host_key, require_signer_match=require_signer_match)
    return OpenedInit(
        session_id=init.session_id,
        job_id=init.job_id if init.job_id is not None else opened.job_id,
        chain_id=init.chain_id,
        client_address=opened.client_address,
        load=_load_request(opened.vector_database, opened.session_key),
    )


def _load_request(
    database: VectorDatabaseSpec | VectorDatabaseRef | None, session_key: bytes | None
) -> LoadRequest | None:
    """Check the named database (path, address, path owner); None when none is named."""
    if database is None:
        return None
    parsed = validate_manifest_path(database.manifest_path)
    address = validate_user_address(database.user_address)
    check_path_owner(parsed, address)
    return LoadRequest(database.manifest_path, address, session_key)
