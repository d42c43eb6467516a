"""Read-only S5 portal blob fallback (SPEC section 6): content-addressed, BLAKE3-verified.

``get_blob(cid)`` tries ``GET <url>/s5/blob/<cid>`` on each portal URL in turn, each with the
shared retry policy. A URL that answers 404, fails for good, runs out of retries, or serves
bytes whose size or BLAKE3 hash differ from the CID is skipped for the next one.
"""

from __future__ import annotations

import asyncio

import aiohttp

from s5vec.errors import NotFound, PermanentStorageError, RetryableStorageError, StorageError
from s5vec.formats.cid import CidError, parse_cid
from s5vec.storage.http import HttpFetcher, join_url, parse_base_url
from s5vec.storage.retry import BeforeRetry, RetryPolicy, Sleep

BLOB_PREFIX = "s5/blob"
MISMATCH_MESSAGE = "blob content does not match its CID"


class PortalBlobReader:
    """Fetch blobs by CID from a list of portals, first good answer wins."""

    name = "portal"
    remote = True

    def __init__(
        self,
        urls: list[str],
        timeout_s: float,
        retries: int,
        session: aiohttp.ClientSession | None = None,
        *,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 10.0,
        sleep: Sleep = asyncio.sleep,
        before_retry: BeforeRetry | None = None,
    ) -> None:
        if not urls:
            raise ValueError("PortalBlobReader needs at least one portal URL")
        self._bases = [parse_base_url(url) for url in urls]
        policy = RetryPolicy(retries, timeout_s, backoff_base_s, backoff_max_s, sleep, before_retry)
        self._http = HttpFetcher(policy, session)

    async def get_blob(self, cid: str) -> bytes:
        """The verified bytes of blob ``cid``.

        Raises ``PermanentStorageError`` for a text that is not a blob CID or when some portal
        served bytes that do not match; otherwise the most hopeful failure seen:
        ``RetryableStorageError`` if any portal was unreachable, then
        ``PermanentStorageError``, and ``NotFound`` only when every portal answered 404.
        """
        try:
            expected = parse_cid(cid)
        except CidError:
            raise PermanentStorageError("Not an S5 blob CID") from None
        failures: list[StorageError] = []
        mismatch = False
        for base in self._bases:
            try:
                data = await self._http.request("GET", join_url(base, BLOB_PREFIX, [cid]))
            except StorageError as exc:
                failures.append(exc)
                continue
            # Hashing tens of MB takes tens of ms: keep it off the event loop.
            if await asyncio.to_thread(expected.matches, data):
                return data
            mismatch = True
        if mismatch:
            raise PermanentStorageError(MISMATCH_MESSAGE)
        raise _most_hopeful(failures)

    async def close(self) -> None:
        """Close the pooled session (unless it was passed in)."""
        await self._http.close()


def _most_hopeful(failures: list[StorageError]) -> StorageError:
    """Pick the error to report after every portal failed without serving wrong bytes."""
    for kind in (RetryableStorageError, PermanentStorageError):
        for failure in failures:
            if isinstance(failure, kind):
                return failure
    return NotFound("Blob not found on any portal")
