"""PortalBlobReader against the real dev store's blob route, and portal fallback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from s5vec.errors import NotFound, PermanentStorageError, RetryableStorageError
from s5vec.formats.cid import cid_for_bytes, format_cid, parse_cid
from s5vec.storage.portal import PortalBlobReader
from tests.storage.scripted_server import SleepRecorder, scripted_server, status

CHUNK = b'{"chunkId": 0, "vectors": []}' * 100


@pytest.fixture
async def stored_cid(dev_store: str) -> str:
    """The CID the dev store returned for ``CHUNK`` uploaded by path."""
    url = f"{dev_store}/s5/fs/home/db/chunk-0.json"
    async with aiohttp.ClientSession() as session, session.put(url, data=CHUNK) as resp:
        assert resp.status == 201
        cid: str = (await resp.json())["cid"]
    return cid


@pytest.fixture
async def reader_for() -> AsyncIterator[Callable[..., PortalBlobReader]]:
    """Build portal readers with recorded waits; all are closed after the test."""
    readers: list[PortalBlobReader] = []

    def build(*urls: str, retries: int = 1) -> PortalBlobReader:
        reader = PortalBlobReader(
            list(urls), timeout_s=5, retries=retries, backoff_base_s=0.01, sleep=SleepRecorder()
        )
        readers.append(reader)
        return reader

    yield build
    for reader in readers:
        await reader.close()


async def test_put_returns_the_blake3_cid_of_the_bytes(stored_cid: str) -> None:
    assert parse_cid(stored_cid) == cid_for_bytes(CHUNK)


@pytest.mark.parametrize("base", ["b", "z", "u"])
async def test_blob_is_served_by_cid_in_any_base(
    dev_store: str, stored_cid: str, reader_for: Callable[..., PortalBlobReader], base: str
) -> None:
    cid = format_cid(parse_cid(stored_cid), base)  # type: ignore[arg-type]
    assert await reader_for(dev_store).get_blob(cid) == CHUNK


@pytest.mark.parametrize(
    "tamper",
    [lambda data: data[:-1] + b"!", lambda data: data + b" "],
    ids=["same-size", "longer"],
)
async def test_tampered_blob_is_rejected(
    dev_store: str,
    dev_store_dir: Path,
    stored_cid: str,
    reader_for: Callable[..., PortalBlobReader],
    tamper: Callable[[bytes], bytes],
) -> None:
    blob = dev_store_dir / "home/db/chunk-0.json"  # the dev store serves blobs from the files
    blob.write_bytes(tamper(blob.read_bytes()))
    with pytest.raises(PermanentStorageError, match="blob content does not match its CID"):
        await reader_for(dev_store).get_blob(stored_cid)


async def test_falls_back_to_the_second_url_when_the_first_404s(
    dev_store: str, stored_cid: str, reader_for: Callable[..., PortalBlobReader]
) -> None:
    async with scripted_server(status(404)) as first:
        assert await reader_for(first.url, dev_store).get_blob(stored_cid) == CHUNK
    assert first.hits == 1
    assert first.requests[0][1] == f"/s5/blob/{stored_cid}"


async def test_falls_back_past_a_portal_serving_wrong_bytes(
    dev_store: str, stored_cid: str, reader_for: Callable[..., PortalBlobReader]
) -> None:
    async with scripted_server(status(200, b"forged")) as first:
        assert await reader_for(first.url, dev_store).get_blob(stored_cid) == CHUNK


async def test_falls_back_past_an_unreachable_portal(
    free_port: int, dev_store: str, stored_cid: str, reader_for: Callable[..., PortalBlobReader]
) -> None:
    reader = reader_for(f"http://127.0.0.1:{free_port}", dev_store)
    assert await reader.get_blob(stored_cid) == CHUNK


async def test_blob_missing_everywhere_is_not_found(
    dev_store: str, reader_for: Callable[..., PortalBlobReader]
) -> None:
    missing = format_cid(cid_for_bytes(b"never stored"))
    async with scripted_server(status(404)) as other:
        with pytest.raises(NotFound):
            await reader_for(dev_store, other.url).get_blob(missing)


async def test_unavailable_portals_give_a_retryable_error(
    reader_for: Callable[..., PortalBlobReader],
) -> None:
    async with scripted_server(status(503)) as first, scripted_server(status(404)) as second:
        with pytest.raises(RetryableStorageError):
            await reader_for(first.url, second.url, retries=2).get_blob(
                format_cid(cid_for_bytes(b"x"))
            )
    assert first.hits == 3
    assert second.hits == 1


async def test_wrong_bytes_outrank_other_failures(
    reader_for: Callable[..., PortalBlobReader],
) -> None:
    async with (
        scripted_server(status(200, b"forged")) as first,
        scripted_server(status(503)) as second,
    ):
        with pytest.raises(PermanentStorageError, match="does not match"):
            await reader_for(first.url, second.url).get_blob(format_cid(cid_for_bytes(b"x")))


async def test_a_path_is_not_a_cid_and_is_never_requested(
    reader_for: Callable[..., PortalBlobReader],
) -> None:
    async with scripted_server(status(200)) as portal:
        with pytest.raises(PermanentStorageError, match="CID"):
            await reader_for(portal.url).get_blob("home/vector-databases/0xabc/db/chunk-0.json")
    assert portal.hits == 0


def test_at_least_one_url_is_required() -> None:
    with pytest.raises(ValueError, match="URL"):
        PortalBlobReader([], timeout_s=1, retries=0)
