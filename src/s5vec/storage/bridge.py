"""The ``bridge`` backend: an S5.js bridge (or ``s5vec store serve``) over HTTP.

Bridge API, as the dev store serves it:

- ``GET /s5/fs/<path>``: the file's bytes; 404 when absent.
- ``HEAD /s5/fs/<path>``: 200 when the file exists, 404 when not.
- ``PUT /s5/fs/<path>``: store the request body; 2xx (the dev store answers 201 ``{"cid"}``).
- ``DELETE /s5/fs/<path>``: remove the file; 404 when absent.
- ``GET /s5/fs/<dir>/`` (trailing slash; ``/s5/fs/`` is the root): the listing, as JSON
  ``{"entries": ["chunk-0.json", "sub/"]}`` (directories end in ``/``); 404 when absent.
- ``GET /health``: 200 when healthy.

Each path segment is percent-encoded on its own (``quote(segment, safe="")``), so a name can
never be read as a separator or a dot segment by the server.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgspec
from yarl import URL

from s5vec.errors import NotFound, PermanentStorageError, StorageError
from s5vec.storage.base import Storage
from s5vec.storage.http import HttpFetcher, join_url, parse_base_url
from s5vec.storage.paths import split_dir, split_path
from s5vec.storage.retry import BeforeRetry, RetryPolicy, Sleep

FS_PREFIX = "s5/fs"


class Listing(msgspec.Struct):
    """Body of ``GET /s5/fs/<dir>/``."""

    entries: list[str]


_listing_decoder = msgspec.json.Decoder(Listing)


def _valid_entry(entry: str) -> bool:
    name = entry[:-1] if entry.endswith("/") else entry
    try:
        return len(split_path(name)) == 1
    except StorageError:
        return False


class BridgeStorage(Storage):
    """Bridge HTTP API client: pooled session, per-request timeout, shared retry policy."""

    name = "bridge"
    remote = True

    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        retries: int,
        session: aiohttp.ClientSession | None = None,
        *,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 10.0,
        sleep: Sleep = asyncio.sleep,
        before_retry: BeforeRetry | None = None,
    ) -> None:
        self._base = parse_base_url(base_url)
        policy = RetryPolicy(retries, timeout_s, backoff_base_s, backoff_max_s, sleep, before_retry)
        self._http = HttpFetcher(policy, session)

    def _url(self, segments: tuple[str, ...], directory: bool = False) -> URL:
        return join_url(self._base, FS_PREFIX, segments, trailing_slash=directory)

    async def get(self, path: str) -> bytes:
        """Return the file's bytes exactly as stored."""
        return await self._http.request("GET", self._url(split_path(path)))

    async def put(self, path: str, data: bytes) -> None:
        """Store ``data`` at ``path`` (the bridge creates parent directories)."""
        await self._http.request("PUT", self._url(split_path(path)), data=data)

    async def delete(self, path: str) -> None:
        """Remove the file at ``path``; ``NotFound`` if it is absent."""
        await self._http.request("DELETE", self._url(split_path(path)))

    async def list(self, path: str) -> list[str]:
        """Names directly under directory ``path`` (directories end in ``/``), sorted."""
        body = await self._http.request("GET", self._url(split_dir(path), directory=True))
        try:
            entries = _listing_decoder.decode(body).entries
        except msgspec.DecodeError:
            raise PermanentStorageError("Storage listing is not the expected JSON") from None
        if not all(_valid_entry(entry) for entry in entries):
            raise PermanentStorageError("Storage listing holds an invalid name")
        return sorted(entries)

    async def exists(self, path: str) -> bool:
        """Whether a file exists at ``path`` (a HEAD request)."""
        try:
            await self._http.request("HEAD", self._url(split_path(path)))
        except NotFound:
            return False
        return True

    async def health(self) -> dict[str, Any]:
        """One ``GET /health`` without retries; healthy on 2xx."""
        try:
            await self._http.request_once("GET", join_url(self._base, "health"))
        except StorageError as exc:
            return {"backend": self.name, "healthy": False, "error": exc.message}
        return {"backend": self.name, "healthy": True}

    async def close(self) -> None:
        """Close the pooled session (unless it was passed in)."""
        await self._http.close()
