"""No secret leaves the host (SPEC sections 2, 7 and 8).

A real ``s5vec serve`` (JSON logs at debug level) reads encrypted databases from the
fault-injecting store and goes through the success path and every failure path that touches
a key or decrypted bytes: wrong keys, keyless inits, foreign signers, malformed payloads that
carry the session key, tampered ciphertext, corrupted encrypted chunks, retried downloads, an
internal error, a replaced session. Then every byte the host wrote (its log, every frame it
sent except the owner's own search results, ``/metrics``, ``/health``, ``/v1/version``) is
scanned for the secrets of the run in every usual encoding: the session keys, the host
private key, the signer's private key, and the decrypted content (ids, metadata text,
vector values, and the manifest path that only ever travelled inside encrypted payloads).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import aiohttp

from s5vec.crypto.envelope import seal_session_init
from s5vec.crypto.secp256k1 import public_key_from_private
from tests.faults.store import Corrupt, FaultyStore, Stall, Status
from tests.reliability.harness import Figures
from tests.reliability.hostile import nested
from tests.reliability.rawdb import good_db, write_db
from tests.reliability.wire import Frame, Peer, encrypted_init, peer, plain_init, search
from tests.server.helpers import OWNER, OWNER_KEY
from tests.server.process import serve_process

SESSION_KEY = bytes.fromhex("5e" * 8 + "c7" * 8 + "a1" * 8 + "d4" * 8)
OTHER_SESSION_KEY = bytes.fromhex("0f" * 16 + "e9" * 16)
HOST_KEY = bytes.fromhex("3c" * 4 + "9b" * 12 + "47" * 16)
CANARY_VALUE = 0.7777777
CANARIES = ("canary-id-", "canary-text-", "0.777777")


def forms(secret: bytes) -> list[str]:
    """The encodings a key could leak in: hex (either case), base64, base64url."""
    return [
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode().rstrip("="),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
    ]


def canary_db() -> Any:
    """A database whose ids, metadata and one vector value are recognisable text."""
    db = good_db(counts=(3, 3))
    for chunk in db.chunks.values():
        for row in chunk["vectors"]:
            number = row["id"][1:]
            row["id"] = f"canary-id-{number}"
            row["metadata"] = {"text": f"canary-text-{number}"}
    db.chunks[0]["vectors"][0]["vector"][1] = CANARY_VALUE
    return db


class Transcript:
    """Every frame the host sent, minus the owner's legitimate search results."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def keep(self, p: Peer, legit_session: str | None = None) -> None:
        """Record ``p``'s frames (search results excluded on the owner's socket)."""
        for frame in p.seen:
            if legit_session and frame.get("type") == "searchVectorsResponse":
                continue
            self.frames.append(frame)


async def scenario(url: str, store: FaultyStore, paths: dict[str, str], out: Transcript) -> None:
    """Drive the host through its key-touching paths."""
    ws_url = url.replace("http://", "ws://") + "/v1/ws"
    host_public = public_key_from_private(HOST_KEY)
    async with aiohttp.ClientSession() as http:
        async with peer(http, ws_url) as owner:
            reply = await owner.request(
                encrypted_init("owner", HOST_KEY, OWNER_KEY, SESSION_KEY, paths["vault"], OWNER)
            )
            assert reply["type"] == "session_init_ack", reply
            assert (await owner.outcome("owner"))["event"] == "loading_complete"
            found = await owner.request(search([1.0, CANARY_VALUE, 0.0, 0.25], k=3))
            assert found["results"][0]["id"] == "canary-id-0"
            deep_filter = {"text": {"$eq": nested(600)}}
            await owner.request(search([1.0, 0.0, 0.0, 0.0], metadataFilter=deep_filter))
            for path in ("/metrics", "/health"):  # while a session holds decrypted data
                async with http.get(url + path) as response:
                    out.frames.append({"http": path, "body": await response.text()})
            replaced = encrypted_init(
                "owner-2", HOST_KEY, OWNER_KEY, SESSION_KEY, paths["slow"], OWNER
            )
            await owner.request(replaced)
            await owner.request(encrypted_init("owner-3", HOST_KEY, OWNER_KEY, SESSION_KEY))
            out.keep(owner, legit_session="owner")

        async with peer(http, ws_url) as prober:
            attempts: list[Frame] = [
                encrypted_init(
                    "wrong-key", HOST_KEY, OWNER_KEY, OTHER_SESSION_KEY, paths["vault"], OWNER
                ),
                plain_init("keyless", paths["keyless"], OWNER),
                encrypted_init(
                    "corrupt", HOST_KEY, OWNER_KEY, SESSION_KEY, paths["corrupt"], OWNER
                ),
                encrypted_init(
                    "retried", HOST_KEY, OWNER_KEY, SESSION_KEY, paths["retried"], OWNER
                ),
                encrypted_init(
                    "foreign", HOST_KEY, bytes(range(1, 33)), SESSION_KEY, paths["vault"], OWNER
                ),
            ]
            carrying_key = {
                "sessionKey": "0x" + SESSION_KEY.hex(),
                "jobId": {"copy": "0x" + SESSION_KEY.hex()},  # ill-typed: INVALID_PAYLOAD
            }
            attempts.append(
                {
                    "type": "encrypted_session_init",
                    "session_id": "malformed",
                    "payload": seal_session_init(carrying_key, host_public, OWNER_KEY),
                }
            )
            tampered = encrypted_init("tampered", HOST_KEY, OWNER_KEY, SESSION_KEY)
            cipher = tampered["payload"]["ciphertextHex"]
            tampered["payload"]["ciphertextHex"] = cipher[:-2] + (
                "00" if cipher[-2:] != "00" else "11"
            )
            attempts.append(tampered)
            for message in attempts:
                reply = await prober.request(message)
                if reply["type"] == "session_init_ack" and message.get("session_id") != "foreign":
                    await prober.outcome(message["session_id"])
            out.keep(prober)
        for path in ("/metrics", "/health", "/v1/version"):
            async with http.get(url + path) as response:
                out.frames.append({"http": path, "body": await response.text()})


async def test_no_key_or_decrypted_content_leaves_the_host(
    tmp_path: Path, store: FaultyStore, free_port: int, figures: Figures
) -> None:
    paths = {
        name: await write_db(store.files, canary_db(), fmt, SESSION_KEY, name=name)
        for name, fmt in (
            ("vault", "cbor"),
            ("keyless", "json"),
            ("corrupt", "cbor"),
            ("retried", "json"),
            ("slow", "cbor"),
        )
    }
    store.script.always(paths["corrupt"].replace("manifest.json", "chunk-1.json"), Corrupt())
    store.script.add(paths["retried"].replace("manifest.json", "chunk-0.json"), Status(503))
    store.script.always(paths["slow"].replace("manifest.json", "chunk-1.json"), Stall())
    env = {
        "S5VEC_DATA_DIR": str(tmp_path / "data"),
        "S5_STORAGE": "bridge",
        "ENHANCED_S5_URL": store.url,
        "S5_DOWNLOAD_TIMEOUT_SECONDS": "2",
        "S5_DOWNLOAD_RETRIES": "2",
        "HOST_PRIVATE_KEY": "0x" + HOST_KEY.hex(),
        "S5VEC_LOG_FORMAT": "json",
        "S5VEC_LOG_LEVEL": "debug",
    }
    out = Transcript()
    async with serve_process(free_port, tmp_path / "serve.log", **env) as server:
        await scenario(server.url, store, paths, out)
        assert await server.stop() == 0
        log = server.log()

    codes = {f.get("code") or f.get("payload", {}).get("error_code") for f in out.frames}
    assert {
        "DECRYPTION_FAILED",
        "INVALID_SESSION_KEY",
        "OWNER_MISMATCH",
        "INVALID_PAYLOAD",
    } <= codes
    assert "DECRYPTION_FAILED" in log  # the log holds the failures it must describe safely
    assert '"session_id": "owner"' in log or '"session_id":"owner"' in log
    outputs = {"log": log, "frames, errors, metrics, health": json.dumps(out.frames)}
    secrets = {
        "session key": forms(SESSION_KEY),
        "other session key": forms(OTHER_SESSION_KEY),
        "host private key": forms(HOST_KEY),
        "signer private key": forms(OWNER_KEY),
        "decrypted content": [*CANARIES, paths["vault"], paths["slow"], paths["corrupt"]],
    }
    leaks = [
        f"{what} ({form[:12]}...) in the {where}"
        for where, text in outputs.items()
        for what, found in secrets.items()
        for form in found
        if form.lower() in text.lower()
    ]
    scanned = sum(len(text) for text in outputs.values())
    figures.add(
        "secrets",
        f"{sum(len(f) for f in secrets.values())} secret forms scanned across {scanned} bytes "
        f"of log, frames, /metrics, /health: {len(leaks)} leaked",
    )
    assert leaks == []
