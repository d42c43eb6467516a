"""The HTTP edge of the remote backends: one pooled aiohttp session, errors mapped at the edge.

Every aiohttp exception and every non-2xx status becomes an ``s5vec.errors`` storage error
here, so nothing from aiohttp reaches the loader. Messages name the failure, never the URL
(it holds the owner's address).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from urllib.parse import quote

import aiohttp
from yarl import URL

from s5vec.errors import NotFound, PermanentStorageError, RetryableStorageError, StorageError
from s5vec.storage.retry import RetryPolicy, parse_retry_after


def join_url(
    base: URL, prefix: str, segments: Iterable[str] = (), trailing_slash: bool = False
) -> URL:
    """``base/prefix/seg/...`` with every segment percent-encoded; never re-normalised."""
    parts = [prefix, *(quote(segment, safe="") for segment in segments)]
    path = base.raw_path.rstrip("/") + "/" + "/".join(parts) + ("/" if trailing_slash else "")
    # encoded=True stops yarl from decoding %2E back into '.' and collapsing '..'.
    return base.with_path(path, encoded=True)


def parse_base_url(url: str) -> URL:
    """Validate an ``http(s)://host[:port][/path]`` base URL."""
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("storage URL must be http(s)://host[:port]")
    return parsed.with_query(None).with_fragment(None)


def error_for_status(status: int, retry_after: str | None) -> StorageError | None:
    """The storage error an HTTP status means, or None for success."""
    if 200 <= status < 300:
        return None
    if status == 404:
        return NotFound()
    if status == 429 or status >= 500:
        return RetryableStorageError(
            f"Storage answered HTTP {status}", retry_after=parse_retry_after(retry_after)
        )
    return PermanentStorageError(f"Storage refused the request (HTTP {status})")


def map_client_error(exc: BaseException) -> StorageError:
    """Map an aiohttp (or timeout) exception into the storage taxonomy."""
    kind = type(exc).__name__
    if isinstance(exc, TimeoutError):
        return RetryableStorageError("Storage request timed out")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return RetryableStorageError(f"Storage response body was incomplete ({kind})")
    if isinstance(exc, aiohttp.InvalidURL):
        return PermanentStorageError("Storage URL is invalid")
    if isinstance(exc, aiohttp.ClientConnectionError):
        return RetryableStorageError(f"Storage connection failed ({kind})")
    return PermanentStorageError(f"Storage request failed ({kind})")


class HttpFetcher:
    """One pooled ``ClientSession`` (created lazily, closed in ``close``) plus the retry policy.

    A session passed in is shared and left open on ``close``; one created here is owned.
    """

    def __init__(self, policy: RetryPolicy, session: aiohttp.ClientSession | None = None) -> None:
        self.policy = policy
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._timeout = aiohttp.ClientTimeout(total=policy.timeout_s)

    def _client(self) -> aiohttp.ClientSession:
        if self._closed:
            raise PermanentStorageError("Storage backend is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def request(self, method: str, url: URL, data: bytes | None = None) -> bytes:
        """Send with retries; return the 2xx body or raise the mapped storage error."""
        return await self.policy.call(lambda: self.request_once(method, url, data))

    async def request_once(self, method: str, url: URL, data: bytes | None = None) -> bytes:
        """One attempt under the per-request timeout; the body is read fully inside it."""
        # A fresh stream per attempt: aiohttp writes large raw bytes in one blocking call.
        body = io.BytesIO(data) if data is not None else None
        try:
            async with self._client().request(
                method, url, data=body, timeout=self._timeout
            ) as response:
                error = error_for_status(response.status, response.headers.get("Retry-After"))
                if error is not None:
                    raise error
                return await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise map_client_error(exc) from None

    async def close(self) -> None:
        """Close the session if this fetcher created it; the fetcher is unusable afterwards."""
        self._closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None
