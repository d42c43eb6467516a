"""The fault-injecting store does what each fault says (so reliability tests can trust it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.faults.store import (
    Corrupt,
    FaultyStore,
    Latency,
    Reset,
    Stall,
    StallBody,
    Status,
    Truncate,
    faulty_store,
)

PATH = "home/vector-databases/0x" + "ab" * 20 + "/docs/chunk-0.json"
BODY = bytes(range(256)) * 4


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FaultyStore]:
    """A fault store holding one file at ``PATH``."""
    async with faulty_store(tmp_path / "root") as running:
        await running.files.put(PATH, BODY)
        yield running


async def get(store: FaultyStore, path: str = PATH, wait_s: float = 5) -> tuple[int, bytes]:
    """One GET with a fresh connection: status and body."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=wait_s)) as http,
        http.get(f"{store.url}/s5/fs/{path}") as response,
    ):
        return response.status, await response.read()


async def test_unscripted_requests_are_served_from_the_directory(store: FaultyStore) -> None:
    assert await get(store) == (200, BODY)
    assert (await get(store, PATH.replace("chunk-0", "chunk-9")))[0] == 404
    assert [hit.fault for hit in store.hits] == [None, None]


async def test_added_faults_play_once_each_in_order_then_the_file_is_served(
    store: FaultyStore,
) -> None:
    store.script.add("*/chunk-0.json", Status(503), Status(429, retry_after="7"))
    assert (await get(store))[0] == 503
    async with aiohttp.ClientSession() as http, http.get(f"{store.url}/s5/fs/{PATH}") as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "7"
    assert await get(store) == (200, BODY)
    assert [hit.fault for hit in store.requests(PATH)] == ["Status503", "Status429", None]


async def test_always_applies_to_every_request_until_cleared(store: FaultyStore) -> None:
    store.script.always(PATH, Status(500))
    assert [(await get(store))[0] for _ in range(3)] == [500, 500, 500]
    store.script.clear()
    assert await get(store) == (200, BODY)
    assert store.count(PATH) == 4


async def test_latency_delays_a_normal_answer(store: FaultyStore) -> None:
    store.script.add(PATH, Latency(0.2))
    started = asyncio.get_running_loop().time()
    assert await get(store) == (200, BODY)
    assert asyncio.get_running_loop().time() - started >= 0.2


async def test_latency_can_precede_another_fault(store: FaultyStore) -> None:
    store.script.add(PATH, Latency(0.1, Status(503)))
    assert (await get(store))[0] == 503
    assert [hit.fault for hit in store.hits] == ["Latency+Status503"]


@pytest.mark.parametrize("fault", [Reset(), Truncate(0.5)], ids=["reset", "truncate"])
async def test_reset_and_truncation_fail_the_read(store: FaultyStore, fault: object) -> None:
    # ``always``: aiohttp itself retries a GET once when the connection drops before a reply.
    store.script.always(PATH, fault)  # type: ignore[arg-type]
    with pytest.raises(aiohttp.ClientError):
        await get(store)


async def test_corruption_keeps_the_length_and_changes_every_byte(store: FaultyStore) -> None:
    store.script.add(PATH, Corrupt())
    status, body = await get(store)
    assert status == 200
    assert len(body) == len(BODY)
    assert body[0] == 0xFF
    assert all(a != b for a, b in zip(body[1:], BODY[1:], strict=True))


@pytest.mark.parametrize("fault", [Stall(), StallBody(0.5)], ids=["stall", "stall-body"])
async def test_stalls_outlast_the_client_timeout(store: FaultyStore, fault: object) -> None:
    store.script.add(PATH, fault)  # type: ignore[arg-type]
    with pytest.raises(TimeoutError):
        await get(store, wait_s=0.5)
    assert await get(store) == (200, BODY)  # the next request is served normally


async def test_other_routes_are_scripted_by_url_path(store: FaultyStore) -> None:
    store.script.always("/health", Status(503))
    async with aiohttp.ClientSession() as http, http.get(f"{store.url}/health") as response:
        assert response.status == 503
    assert store.count("/health") == 1
