"""Messages as clients send them, and waits on recorded frames."""

from __future__ import annotations

from typing import Any

import numpy as np

from s5vec.crypto.envelope import seal_session_init
from s5vec.crypto.secp256k1 import HostKey
from s5vec.sessions import Connection, SessionHub
from tests.loader.fakes import until
from tests.sessions.dbs import Database, User
from tests.sessions.fakes import Recorder


def plain_init(session_id: str, db: Database | None = None, **extra: Any) -> dict[str, Any]:
    """A ``session_init`` (snake_case) naming ``db``."""
    message: dict[str, Any] = {"type": "session_init", "session_id": session_id, **extra}
    if db is not None:
        message["vector_database"] = {"manifest_path": db.path, "user_address": db.owner}
    return message


def sealed_payload(
    host_key: HostKey,
    signer: User,
    *,
    key: bytes,
    db: Database | None = None,
    eip191: bool = False,
    **plaintext: Any,
) -> dict[str, str]:
    """An encrypted init payload carrying ``key`` (and ``db``), signed by ``signer``."""
    body: dict[str, Any] = {"jobId": "42", "sessionKey": "0x" + key.hex(), **plaintext}
    if db is not None:
        body["vectorDatabase"] = {"manifestPath": db.path, "userAddress": db.owner}
    return seal_session_init(
        body, host_key.public_key_compressed, signer.private_key, eip191=eip191
    )


def encrypted_init(session_id: str, payload: Any, **extra: Any) -> dict[str, Any]:
    """An ``encrypted_session_init`` carrying ``payload``."""
    return {"type": "encrypted_session_init", "session_id": session_id, "payload": payload, **extra}


def upload(vectors: list[dict[str, Any]], request_id: str = "u1", **extra: Any) -> dict[str, Any]:
    """An ``uploadVectors`` message."""
    return {"type": "uploadVectors", "requestId": request_id, "vectors": vectors, **extra}


def search(query: list[float], k: int = 5, request_id: str = "q1", **extra: Any) -> dict[str, Any]:
    """A ``searchVectors`` message."""
    return {"type": "searchVectors", "requestId": request_id, "queryVector": query, "k": k, **extra}


def records(count: int, dims: int, prefix: str = "up", seed: int = 1) -> list[dict[str, Any]]:
    """``count`` upload records with metadata ``{"n"}``."""
    rng = np.random.default_rng(seed)
    return [
        {"id": f"{prefix}-{i}", "vector": rng.normal(size=dims).tolist(), "metadata": {"n": i}}
        for i in range(count)
    ]


def connect(hub: SessionHub) -> tuple[Connection, Recorder]:
    """A connection whose frames are recorded."""
    sent = Recorder()
    return hub.connect(sent), sent


async def ended(sent: Recorder, session_id: str) -> dict[str, Any]:
    """Wait for the session's terminal progress event and return it."""
    await until(lambda: bool(sent.terminal(session_id)))
    return sent.terminal(session_id)[0]
