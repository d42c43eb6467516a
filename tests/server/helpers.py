"""Helpers for server tests: the running host handle, sockets, and published databases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np
import numpy.typing as npt
from aiohttp import web

from s5vec.crypto.ethereum import address_from_public_key
from s5vec.crypto.secp256k1 import public_key_from_private
from s5vec.formats import ChunkEntry, Format, Manifest, encode_chunk, encode_manifest
from s5vec.formats.paths import chunk_path
from s5vec.server import services_of
from s5vec.server.services import Services
from s5vec.storage.base import Storage

HOST_PRIVATE_KEY = "11" * 32
OWNER_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
OWNER = address_from_public_key(public_key_from_private(OWNER_KEY, compressed=False))
SESSION_KEY = bytes(range(100, 132))


@dataclass
class RunningHost:
    """A started host app: its base URL and services."""

    url: str
    runner: web.AppRunner
    stopped: bool = False

    @property
    def app(self) -> web.Application:
        """The host's application."""
        return self.runner.app

    async def stop(self) -> None:
        """Graceful shutdown, as on SIGTERM (idempotent)."""
        if not self.stopped:
            self.stopped = True
            await self.runner.cleanup()

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint."""
        return self.url.replace("http://", "ws://") + "/v1/ws"

    @property
    def services(self) -> Services:
        """The running services (hub, storage, metrics...)."""
        return services_of(self.app)


async def connect(
    http: aiohttp.ClientSession, host: RunningHost, **options: Any
) -> aiohttp.ClientWebSocketResponse:
    """Open a socket and check the ``connected`` greeting."""
    ws = await http.ws_connect(host.ws_url, **options)
    greeting = await ws.receive_json(timeout=10)
    assert greeting["type"] == "connected"
    assert isinstance(greeting["message"], str)
    return ws


@dataclass(frozen=True)
class Database:
    """A published database: where its manifest is and what it holds."""

    name: str
    manifest_path: str
    ids: list[str]
    vectors: npt.NDArray[np.float32]

    @property
    def spec(self) -> tuple[str, str]:
        """``(manifest_path, user_address)`` as the client takes it."""
        return self.manifest_path, OWNER

    def vector_database(self) -> dict[str, str]:
        """The ``vector_database`` object of a plain ``session_init``."""
        return {"manifest_path": self.manifest_path, "user_address": OWNER}


async def publish(
    storage: Storage,
    name: str,
    counts: tuple[int, ...] = (6, 5, 7),
    dims: int = 16,
    *,
    seed: int = 0,
    fmt: Format = "cbor",
    key: bytes | None = None,
) -> Database:
    """Write a database of random vectors (ids ``<name>-<row>``) the way clients do."""
    manifest_path = f"home/vector-databases/{OWNER}/{name}/manifest.json"
    total = sum(counts)
    vectors = np.random.default_rng(seed).normal(size=(total, dims)).astype(np.float32)
    ids = [f"{name}-{row}" for row in range(total)]
    entries: list[ChunkEntry] = []
    start = 0
    for chunk_id, count in enumerate(counts):
        rows = slice(start, start + count)
        metadata = [{"db": name, "row": row} for row in range(start, start + count)]
        data = encode_chunk(chunk_id, (ids[rows], vectors[rows], metadata), fmt, key)
        path = chunk_path(manifest_path, chunk_id)
        await storage.put(path, data)
        entries.append(ChunkEntry(chunk_id=chunk_id, cid=path, vector_count=count))
        start += count
    manifest = Manifest(
        name=name,
        owner=OWNER,
        dimensions=dims,
        vector_count=total,
        chunks=entries,
        chunk_count=len(entries),
    )
    await storage.put(manifest_path, encode_manifest(manifest, fmt, key))
    return Database(name, manifest_path, ids, vectors)


async def receive_until(
    ws: aiohttp.ClientWebSocketResponse, done: Any, wait_s: float = 30
) -> list[dict[str, Any]]:
    """Every JSON frame received up to and including the first one for which ``done`` holds."""
    frames: list[dict[str, Any]] = []
    while True:
        frame = await ws.receive_json(timeout=wait_s)
        frames.append(frame)
        if done(frame):
            return frames


async def stuck_load(
    start_host: Callable[..., Awaitable[RunningHost]],
    stalling_bridge: tuple[str, Storage],
    http: aiohttp.ClientSession,
) -> tuple[RunningHost, aiohttp.ClientWebSocketResponse]:
    """A host on the stalling bridge and a socket whose load is under way, stuck on chunk 1."""
    url, files = stalling_bridge
    db = await publish(files, "stuck")
    host = await start_host(S5_STORAGE="bridge", ENHANCED_S5_URL=url, S5_DOWNLOAD_RETRIES="0")
    ws = await connect(http, host)
    await ws.send_json(
        {"type": "session_init", "session_id": "s1", "vector_database": db.vector_database()}
    )
    await receive_until(
        ws,
        lambda f: (
            f.get("type") == "vector_loading_progress"
            and f["payload"]["event"] == "chunk_downloaded"
        ),
    )
    return host, ws
