"""The HTTP side of a connection: opening the WebSocket and ``GET /v1/host-key``."""

from __future__ import annotations

import asyncio

import aiohttp
import msgspec

from s5vec.client.failures import CONNECTION_FAILED, PROTOCOL_ERROR, ClientError
from s5vec.crypto.hexcodec import decode_hex
from s5vec.crypto.secp256k1 import parse_public_key
from s5vec.errors import S5VecError

# Replies are small, but a k=100 search with 10 KB of metadata per hit is about 1 MB.
MAX_FRAME_BYTES = 64 * 1024 * 1024


class _HostKeyReply(msgspec.Struct):
    public_key: str = msgspec.field(name="publicKey")


def http_url(ws_url: str, path: str) -> str:
    """The HTTP(S) URL of ``path`` on the host behind a ``ws://`` / ``wss://`` URL."""
    scheme, sep, rest = ws_url.partition("://")
    if not sep:
        raise ValueError(f"not a WebSocket URL: {ws_url}")
    host = rest.split("/", 1)[0]
    http_scheme = {"ws": "http", "wss": "https"}.get(scheme.lower(), scheme)
    return f"{http_scheme}://{host}{path}"


async def open_socket(
    http: aiohttp.ClientSession, url: str, seconds: float
) -> aiohttp.ClientWebSocketResponse:
    """Open the WebSocket; every failure is a CONNECTION_FAILED ClientError."""
    try:
        async with asyncio.timeout(seconds):
            return await http.ws_connect(url, max_msg_size=MAX_FRAME_BYTES)
    except aiohttp.WSServerHandshakeError as exc:
        raise ClientError(
            CONNECTION_FAILED, f"{url} refused the WebSocket (HTTP {exc.status})"
        ) from None
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise ClientError(CONNECTION_FAILED, f"cannot connect to {url}: {exc}") from None
    except TimeoutError:
        raise ClientError(CONNECTION_FAILED, f"connecting to {url} timed out") from None


def is_connected_frame(text: str) -> bool:
    """True for the ``{"type": "connected"}`` frame the host greets every socket with."""
    try:
        frame = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return False
    return isinstance(frame, dict) and frame.get("type") == "connected"


async def fetch_host_key(http: aiohttp.ClientSession, ws_url: str, seconds: float) -> bytes:
    """The host's secp256k1 public key (33 or 65 bytes) from ``GET /v1/host-key``."""
    url = http_url(ws_url, "/v1/host-key")
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=seconds)) as response:
            if response.status != 200:
                raise ClientError(
                    CONNECTION_FAILED, f"GET /v1/host-key answered HTTP {response.status}"
                )
            body = await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ClientError(CONNECTION_FAILED, f"GET /v1/host-key failed: {exc}") from None
    try:
        key = decode_hex(msgspec.json.decode(body, type=_HostKeyReply).public_key, "publicKey")
        parse_public_key(key)
    except (msgspec.DecodeError, msgspec.ValidationError, S5VecError):
        raise ClientError(
            PROTOCOL_ERROR, "GET /v1/host-key did not return a secp256k1 publicKey"
        ) from None
    return key
