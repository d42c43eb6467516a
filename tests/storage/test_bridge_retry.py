"""BridgeStorage retry rules against a real scripted aiohttp server (SPEC section 3)."""

from __future__ import annotations

import aiohttp
import pytest

from s5vec.errors import NotFound, PermanentStorageError, RetryableStorageError
from s5vec.storage.bridge import BridgeStorage
from tests.storage.scripted_server import (
    SleepRecorder,
    Step,
    disconnect,
    hang,
    scripted_server,
    status,
    truncated,
)

FILE = "home/vector-databases/0xabc/db/chunk-0.json"


def bridge(url: str, sleep: SleepRecorder, retries: int = 3, timeout_s: float = 5) -> BridgeStorage:
    """A bridge client whose waits are recorded instead of slept."""
    return BridgeStorage(
        url,
        timeout_s=timeout_s,
        retries=retries,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        sleep=sleep,
    )


async def test_503_twice_then_200_succeeds_on_the_third_request() -> None:
    sleep = SleepRecorder()
    async with scripted_server(status(503), status(503), status(200, b"chunk")) as server:
        storage = bridge(server.url, sleep)
        assert await storage.get(FILE) == b"chunk"
        await storage.close()
    assert server.hits == 3
    assert len(sleep.waits) == 2
    assert all(0 <= wait <= 0.05 for wait in sleep.waits)


async def test_each_retry_takes_a_rate_limit_token_first() -> None:
    tokens: list[int] = []

    async def take_token() -> None:
        tokens.append(len(tokens))

    async with scripted_server(status(503), status(503), status(200, b"chunk")) as server:
        storage = BridgeStorage(
            server.url, timeout_s=5, retries=3, sleep=SleepRecorder(), before_retry=take_token
        )
        assert await storage.get(FILE) == b"chunk"
        await storage.close()
    assert (server.hits, len(tokens)) == (3, 2)  # the first request's token is the loader's


async def test_404_is_never_retried() -> None:
    sleep = SleepRecorder()
    async with scripted_server(status(404), status(200, b"late")) as server:
        storage = bridge(server.url, sleep)
        with pytest.raises(NotFound):
            await storage.get(FILE)
        await storage.close()
    assert server.hits == 1
    assert sleep.waits == []


@pytest.mark.parametrize("code", [400, 401, 403, 409, 410, 413])
async def test_other_4xx_are_permanent_and_not_retried(code: int) -> None:
    sleep = SleepRecorder()
    async with scripted_server(status(code), status(200)) as server:
        storage = bridge(server.url, sleep)
        with pytest.raises(PermanentStorageError, match=str(code)):
            await storage.get(FILE)
        await storage.close()
    assert server.hits == 1


async def test_429_retry_after_seconds_is_honoured() -> None:
    sleep = SleepRecorder()
    steps = (status(429, headers={"Retry-After": "1"}), status(200, b"ok"))
    async with scripted_server(*steps) as server:
        storage = bridge(server.url, sleep)
        assert await storage.get(FILE) == b"ok"
        await storage.close()
    assert sleep.waits == [1.0]
    assert server.hits == 2


async def test_retry_after_is_capped_at_the_per_file_timeout() -> None:
    sleep = SleepRecorder()
    steps = (status(503, headers={"Retry-After": "3600"}), status(200, b"ok"))
    async with scripted_server(*steps) as server:
        storage = bridge(server.url, sleep, timeout_s=2)
        assert await storage.get(FILE) == b"ok"
        await storage.close()
    assert sleep.waits == [2.0]


async def test_truncated_body_is_retried() -> None:
    sleep = SleepRecorder()
    async with scripted_server(truncated, status(200, b"whole")) as server:
        storage = bridge(server.url, sleep)
        assert await storage.get(FILE) == b"whole"
        await storage.close()
    assert server.hits == 2


async def test_dropped_connection_is_retried() -> None:
    sleep = SleepRecorder()
    async with scripted_server(disconnect, status(200, b"ok")) as server:
        storage = bridge(server.url, sleep)
        assert await storage.get(FILE) == b"ok"
        await storage.close()
    assert server.hits == 2


async def test_timeout_is_retried() -> None:
    sleep = SleepRecorder()
    async with scripted_server(hang, status(200, b"ok")) as server:
        storage = bridge(server.url, sleep, timeout_s=0.3)
        assert await storage.get(FILE) == b"ok"
        await storage.close()
    assert server.hits == 2


async def test_exhausted_retries_raise_retryable_storage_error() -> None:
    sleep = SleepRecorder()
    async with scripted_server(status(503)) as server:
        storage = bridge(server.url, sleep, retries=2)
        with pytest.raises(RetryableStorageError, match="503"):
            await storage.get(FILE)
        await storage.close()
    assert server.hits == 3
    assert len(sleep.waits) == 2


async def test_zero_retries_means_one_attempt() -> None:
    sleep = SleepRecorder()
    async with scripted_server(status(500)) as server:
        storage = bridge(server.url, sleep, retries=0)
        with pytest.raises(RetryableStorageError):
            await storage.get(FILE)
        await storage.close()
    assert server.hits == 1


async def test_connection_refused_is_retryable(free_port: int) -> None:
    sleep = SleepRecorder()
    storage = bridge(f"http://127.0.0.1:{free_port}", sleep, retries=1)
    with pytest.raises(RetryableStorageError, match="connection"):
        await storage.get(FILE)
    await storage.close()
    assert len(sleep.waits) == 1


async def test_put_is_retried_with_the_same_body() -> None:
    sleep = SleepRecorder()
    async with scripted_server(status(502), status(201)) as server:
        storage = bridge(server.url, sleep)
        await storage.put(FILE, b"payload")
        await storage.close()
    assert [(method, body) for method, _, body in server.requests] == [
        ("PUT", b"payload"),
        ("PUT", b"payload"),
    ]


async def test_malformed_listing_is_permanent() -> None:
    async with scripted_server(status(200, b"<html>")) as server:
        storage = bridge(server.url, SleepRecorder())
        with pytest.raises(PermanentStorageError):
            await storage.list("home")
        await storage.close()


async def test_listing_with_a_traversing_name_is_refused() -> None:
    async with scripted_server(status(200, b'{"entries": ["ok", "../up"]}')) as server:
        storage = bridge(server.url, SleepRecorder())
        with pytest.raises(PermanentStorageError):
            await storage.list("home")
        await storage.close()


async def test_segments_are_percent_encoded_under_the_base_path() -> None:
    async with scripted_server(status(200, b"x")) as server:
        storage = bridge(server.url + "/bridge/", SleepRecorder())
        await storage.get("a b/c%2e%2e/d?e#f")
        await storage.close()
    assert server.requests[0][1] == "/bridge/s5/fs/a%20b/c%252e%252e/d%3Fe%23f"


async def test_health_is_one_request_and_never_raises(free_port: int) -> None:
    async with scripted_server(status(503)) as server:
        storage = bridge(server.url, SleepRecorder())
        assert (await storage.health())["healthy"] is False
        await storage.close()
    assert server.hits == 1
    unreachable = bridge(f"http://127.0.0.1:{free_port}", SleepRecorder())
    assert (await unreachable.health())["healthy"] is False
    await unreachable.close()


async def test_an_injected_session_is_shared_and_left_open() -> None:
    async with scripted_server(status(200, b"x")) as server, aiohttp.ClientSession() as session:
        storage = BridgeStorage(server.url, timeout_s=5, retries=0, session=session)
        assert await storage.get(FILE) == b"x"
        await storage.close()
        assert not session.closed


async def test_a_closed_backend_refuses_requests() -> None:
    async with scripted_server(status(200, b"x")) as server:
        storage = bridge(server.url, SleepRecorder())
        await storage.get(FILE)
        await storage.close()
        with pytest.raises(PermanentStorageError, match="closed"):
            await storage.get(FILE)
    assert server.hits == 1


def test_bad_base_url_is_rejected() -> None:
    with pytest.raises(ValueError, match="http"):
        BridgeStorage("ftp://example.org", timeout_s=1, retries=0)


@pytest.mark.parametrize(
    ("step", "message"),
    [(truncated, "incomplete"), (hang, "timed out"), (disconnect, "connection")],
    ids=["truncated", "timeout", "disconnect"],
)
async def test_transient_failures_map_to_retryable_errors(step: Step, message: str) -> None:
    async with scripted_server(step) as server:
        storage = bridge(server.url, SleepRecorder(), retries=0, timeout_s=0.3)
        with pytest.raises(RetryableStorageError, match=message):
            await storage.get(FILE)
        await storage.close()
