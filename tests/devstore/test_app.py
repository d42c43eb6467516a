"""The dev store over real HTTP: bridge routes, blob routes, and traversal refused server-side."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from s5vec.devstore import create_app, serve, start
from s5vec.devstore.app import BLOB_DIR
from s5vec.formats.cid import cid_for_bytes, format_cid, parse_cid


async def raw_request(url: str, method: str, raw_path: str, body: bytes = b"") -> int:
    """Send ``raw_path`` byte for byte (no client normalisation) and return the status code."""
    target = URL(url)
    assert target.host is not None
    assert target.port is not None
    reader, writer = await asyncio.open_connection(target.host, target.port)
    head = f"{method} {raw_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return int(status_line.split()[1])


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session, closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.mark.parametrize(
    "raw_path",
    [
        "/s5/fs/../secret",
        "/s5/fs/%2e%2e/secret",
        "/s5/fs/%2E%2E/secret",
        "/s5/fs/a/%2e%2e/%2e%2e/secret",
        "/s5/fs/..%2Fsecret",
        "/s5/fs/a%2F..%2F..%2Fsecret",
        "/s5/fs/%2e%2e/devstore/x",
        "/s5/fs/a%00b",
        "/s5/fs/a//b",
        "/s5/fs/a%5C..%5Csecret",
        "/s5/fs/%ff",
    ],
)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
async def test_traversal_is_refused_by_the_server(
    dev_store: str, dev_store_dir: Path, raw_path: str, method: str
) -> None:
    secret = dev_store_dir.parent / "secret"
    secret.write_bytes(b"keep")
    status = await raw_request(dev_store, method, raw_path, b"evil" if method == "PUT" else b"")
    assert status in (400, 404)
    assert secret.read_bytes() == b"keep"
    assert sorted(os.listdir(dev_store_dir.parent)) == ["devstore", "secret"]
    assert os.listdir(dev_store_dir) == [BLOB_DIR]
    assert os.listdir(dev_store_dir / BLOB_DIR) == []


async def test_put_stores_the_file_and_answers_its_cid(
    dev_store: str, dev_store_dir: Path, http: aiohttp.ClientSession
) -> None:
    data = b"\x00\x01binary" * 1000
    async with http.put(f"{dev_store}/s5/fs/home/db/chunk-0.json", data=data) as resp:
        assert resp.status == 201
        cid = (await resp.json())["cid"]
    assert cid == format_cid(cid_for_bytes(data))
    assert (dev_store_dir / "home/db/chunk-0.json").read_bytes() == data
    async with http.get(f"{dev_store}/s5/blob/{cid}") as resp:
        assert resp.status == 200
        assert await resp.read() == data
    # Served from the file itself: no second copy under the blob directory.
    assert os.listdir(dev_store_dir / BLOB_DIR) == []


def blob_url(base: str, data: bytes) -> str:
    """The dev store URL of the blob holding ``data``."""
    return f"{base}/s5/blob/{format_cid(cid_for_bytes(data))}"


async def test_files_written_into_the_directory_are_served_by_path_and_cid(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    (tmp_path / "home/db").mkdir(parents=True)
    (tmp_path / "home/db/manifest.json").write_bytes(b"written before start")
    store = await start(tmp_path)
    try:
        async with http.get(f"{store.url}/s5/fs/home/db/manifest.json") as resp:
            assert await resp.read() == b"written before start"
        async with http.get(blob_url(store.url, b"written before start")) as resp:
            assert resp.status == 200
            assert await resp.read() == b"written before start"
        (tmp_path / "home/db/chunk-0.json").write_bytes(b"written while running")
        async with http.get(blob_url(store.url, b"written while running")) as resp:
            assert resp.status == 200
            assert await resp.read() == b"written while running"
    finally:
        await store.stop()


async def test_overwritten_and_deleted_files_leave_the_blob_route(
    dev_store: str, dev_store_dir: Path, http: aiohttp.ClientSession
) -> None:
    url = f"{dev_store}/s5/fs/home/db/chunk-0.json"
    for data in (b"first", b"second"):
        async with http.put(url, data=data) as resp:
            assert resp.status == 201
    async with http.get(blob_url(dev_store, b"first")) as resp:
        assert resp.status == 404
    async with http.get(blob_url(dev_store, b"second")) as resp:
        assert await resp.read() == b"second"
    async with http.delete(url) as resp:
        assert resp.status == 204
    async with http.get(blob_url(dev_store, b"second")) as resp:
        assert resp.status == 404


async def test_content_held_by_two_paths_survives_deleting_one(
    dev_store: str, http: aiohttp.ClientSession
) -> None:
    for path in ("a", "b"):
        async with http.put(f"{dev_store}/s5/fs/{path}", data=b"shared"):
            pass
    async with http.delete(f"{dev_store}/s5/fs/b") as resp:
        assert resp.status == 204
    async with http.get(blob_url(dev_store, b"shared")) as resp:
        assert resp.status == 200
        assert await resp.read() == b"shared"


async def test_large_uploads_are_accepted(dev_store: str, http: aiohttp.ClientSession) -> None:
    data = bytes(range(256)) * (5 * 4096)  # 5 MiB, over aiohttp's 1 MiB default
    async with http.put(f"{dev_store}/s5/fs/big", data=io.BytesIO(data)) as resp:
        assert resp.status == 201
    async with http.get(f"{dev_store}/s5/fs/big") as resp:
        assert await resp.read() == data


async def test_post_blob_then_get_by_cid(dev_store: str, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{dev_store}/s5/blob", data=b"raw blob") as resp:
        assert resp.status == 201
        cid = (await resp.json())["cid"]
    async with http.get(f"{dev_store}/s5/blob/{cid}") as resp:
        assert resp.status == 200
        assert await resp.read() == b"raw blob"


async def test_unknown_blob_is_404_and_garbage_cid_is_400(
    dev_store: str, http: aiohttp.ClientSession
) -> None:
    unknown = format_cid(cid_for_bytes(b"nope"))
    async with http.get(f"{dev_store}/s5/blob/{unknown}") as resp:
        assert resp.status == 404
    async with http.get(f"{dev_store}/s5/blob/not-a-cid") as resp:
        assert resp.status == 400


@pytest.mark.parametrize(
    "blob_dir", [BLOB_DIR, BLOB_DIR.upper(), "%2Es5vec-blobs", ".%C5%BF5VEC-Blobs"]
)
async def test_blob_directory_is_not_reachable_through_fs(
    dev_store: str, dev_store_dir: Path, http: aiohttp.ClientSession, blob_dir: str
) -> None:
    async with http.post(f"{dev_store}/s5/blob", data=b"hidden") as resp:
        digest = parse_cid((await resp.json())["cid"]).hash.hex()
    assert (dev_store_dir / BLOB_DIR / digest).read_bytes() == b"hidden"
    for method in ("GET", "HEAD", "PUT", "DELETE"):
        status = await raw_request(dev_store, method, f"/s5/fs/{blob_dir}/{digest}", b"evil")
        assert status == 400
    async with http.get(f"{dev_store}/s5/fs/{blob_dir}/") as resp:
        assert resp.status == 400
    async with http.get(f"{dev_store}/s5/fs/") as resp:
        assert await resp.json() == {"entries": []}
    assert (dev_store_dir / BLOB_DIR / digest).read_bytes() == b"hidden"


async def test_listing_shape(dev_store: str, http: aiohttp.ClientSession) -> None:
    for path in ("d/b.json", "d/a.json", "d/sub/c"):
        async with http.put(f"{dev_store}/s5/fs/{path}", data=b"1") as resp:
            assert resp.status == 201
    async with http.get(f"{dev_store}/s5/fs/d/") as resp:
        assert resp.status == 200
        assert await resp.json() == {"entries": ["a.json", "b.json", "sub/"]}
    async with http.get(f"{dev_store}/s5/fs/missing/") as resp:
        assert resp.status == 404


async def test_head_delete_and_method_errors(dev_store: str, http: aiohttp.ClientSession) -> None:
    url = f"{dev_store}/s5/fs/f"
    async with http.put(url, data=b"1"):
        pass
    async with http.head(url) as resp:
        assert resp.status == 200
    async with http.delete(url) as resp:
        assert resp.status == 204
    async with http.head(url) as resp:
        assert resp.status == 404
    async with http.delete(url) as resp:
        assert resp.status == 404
    async with http.post(url, data=b"1") as resp:
        assert resp.status == 405
    async with http.put(f"{dev_store}/s5/fs/dir/", data=b"1") as resp:
        assert resp.status == 400


async def test_health(dev_store: str, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{dev_store}/health") as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "healthy"


def test_create_app_makes_its_directories(tmp_path: Path) -> None:
    create_app(tmp_path / "new")
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == [BLOB_DIR]


async def test_serve_runs_until_cancelled(tmp_path: Path, free_port: int) -> None:
    task = asyncio.create_task(serve(tmp_path, "127.0.0.1", free_port))
    url = f"http://127.0.0.1:{free_port}/health"
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(url) as resp:
                    status = resp.status
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.02)
        assert status == 200
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)):
                pass
