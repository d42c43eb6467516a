"""Single flight: concurrent sessions naming the same database share one load (SPEC 3)."""

import asyncio

import pytest

from s5vec.cache import IndexCache, Lease
from s5vec.errors import Cancelled, ChunkDownloadFailed
from tests.cache.fakes import FakeGatedLoader, FakeIndex, key, make_cache

Cache = IndexCache[FakeIndex, str]


def start(cache: Cache, loader: FakeGatedLoader, n: int) -> list[asyncio.Task[Lease[FakeIndex]]]:
    return [asyncio.create_task(cache.get_or_load(key("a"), loader)) for _ in range(n)]


async def test_twenty_concurrent_callers_share_one_load() -> None:
    cache, _ = make_cache()
    loader = FakeGatedLoader()
    tasks = start(cache, loader, 20)
    await loader.started.wait()
    assert cache.in_flight(key("a"))
    loader.gate.set()
    leases = await asyncio.gather(*tasks)
    assert loader.calls == 1
    assert {id(lease.value) for lease in leases} == {id(loader.values[0])}
    assert sorted(lease.source for lease in leases) == ["load"] + ["shared"] * 19
    assert cache.stats.misses == 20
    assert not cache.in_flight(key("a"))
    for lease in leases:
        lease.release()
    assert loader.values[0].close_calls == 0  # still cached
    again = await cache.get_or_load(key("a"), loader)
    assert (again.source, loader.calls) == ("cache", 1)


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached() -> None:
    cache, _ = make_cache()
    error = ChunkDownloadFailed()
    loader = FakeGatedLoader(error=error)
    tasks = start(cache, loader, 5)
    await loader.started.wait()
    loader.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(result is error for result in results)
    assert (len(cache), cache.in_flight(key("a"))) == (0, False)
    loader.error = None
    lease = await cache.get_or_load(key("a"), loader)
    assert (lease.source, loader.calls) == ("load", 2)


async def test_one_cancelled_waiter_does_not_cancel_the_shared_load() -> None:
    cache, _ = make_cache()
    loader = FakeGatedLoader()
    first, *others = start(cache, loader, 3)
    await loader.started.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert not loader.cancelled.is_set()
    loader.gate.set()
    leases = await asyncio.gather(*others)
    assert [lease.value for lease in leases] == loader.values * 2
    assert loader.calls == 1


async def test_the_first_caller_leaving_does_not_stop_the_load_for_joiners() -> None:
    cache, _ = make_cache()
    loader = FakeGatedLoader()
    joined = asyncio.Event()
    owner = asyncio.create_task(cache.get_or_load(key("a"), loader))
    await loader.started.wait()
    joiner = asyncio.create_task(
        cache.get_or_load(key("a"), FakeGatedLoader(), lambda event: joined.set())
    )
    await joined.wait()  # the replay of "started" proves the joiner is registered
    owner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await owner
    loader.gate.set()
    lease = await joiner
    assert (lease.source, lease.value) == ("shared", loader.values[0])


async def test_when_every_waiter_is_cancelled_the_load_is_cancelled() -> None:
    cache, _ = make_cache()
    loader = FakeGatedLoader()
    tasks = start(cache, loader, 4)
    await loader.started.wait()
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(result, asyncio.CancelledError) for result in results)
    assert not cache.in_flight(key("a"))
    await loader.cancelled.wait()
    assert loader.values == []  # the loader never produced (or leaked) a value
    fresh = FakeGatedLoader()
    fresh.gate.set()
    lease = await cache.get_or_load(key("a"), fresh)
    assert (lease.source, fresh.calls) == ("load", 1)


@pytest.mark.parametrize("max_bytes", [5, 1000], ids=["too-big-to-cache", "cached"])
async def test_a_waiter_leaving_as_the_load_finishes_leaks_nothing(max_bytes: int) -> None:
    cache, _ = make_cache(max_bytes=max_bytes)
    loader = FakeGatedLoader(size=10)
    (task,) = start(cache, loader, 1)
    await loader.started.wait()
    loader.gate.set()  # the load completes first, then its only waiter is cancelled
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (value,) = loader.values
    cache.clear()
    assert value.close_calls == 1


async def test_a_load_cancelled_from_elsewhere_fails_its_waiters_with_cancelled() -> None:
    async def self_cancelling(publish: object) -> FakeIndex:
        raise asyncio.CancelledError

    cache, _ = make_cache()
    with pytest.raises(Cancelled):
        await cache.get_or_load(key("a"), self_cancelling)
    assert not cache.in_flight(key("a"))


async def test_progress_reaches_every_waiter_and_late_joiners_get_a_replay() -> None:
    cache, _ = make_cache()
    loader = FakeGatedLoader()
    early: list[str] = []
    late: list[str] = []
    late_caught_up = asyncio.Event()

    def on_late(event: str) -> None:
        late.append(event)
        if event == "chunk 1":
            late_caught_up.set()

    first = asyncio.create_task(cache.get_or_load(key("a"), loader, early.append))
    await loader.started.wait()
    loader.publish("chunk 1")
    second = asyncio.create_task(cache.get_or_load(key("a"), FakeGatedLoader(), on_late))
    await late_caught_up.wait()
    loader.publish("chunk 2")
    loader.gate.set()
    await asyncio.gather(first, second)
    assert early == late == ["started", "chunk 1", "chunk 2"]


async def test_a_failing_progress_callback_does_not_disturb_the_load() -> None:
    cache, _ = make_cache()
    loader = FakeGatedLoader()
    seen: list[str] = []

    def broken(event: str) -> None:
        raise RuntimeError("socket closed")

    bad = asyncio.create_task(cache.get_or_load(key("a"), loader, broken))
    good = asyncio.create_task(cache.get_or_load(key("a"), loader, seen.append))
    await loader.started.wait()
    loader.publish("chunk 1")
    loader.gate.set()
    leases = await asyncio.gather(bad, good)
    assert leases[0].value is leases[1].value
    assert seen == ["started", "chunk 1"]


async def test_a_cache_hit_sends_no_progress() -> None:
    cache, _ = make_cache()
    loader = FakeGatedLoader()
    loader.gate.set()
    (await cache.get_or_load(key("a"), loader)).release()
    events: list[str] = []
    lease = await cache.get_or_load(key("a"), loader, events.append)
    assert (lease.source, events) == ("cache", [])


async def test_an_abandoned_load_that_ignores_cancel_does_not_leak_its_value() -> None:
    stubborn_started = asyncio.Event()
    stubborn_gate = asyncio.Event()
    stubborn_returning = asyncio.Event()
    stubborn_value = FakeIndex(10, "stubborn")

    async def stubborn(publish: object) -> FakeIndex:
        stubborn_started.set()
        while True:
            try:
                await stubborn_gate.wait()
                stubborn_returning.set()
                return stubborn_value
            except asyncio.CancelledError:
                continue  # a misbehaving loader that swallows the cancel

    cache, _ = make_cache()
    first = asyncio.create_task(cache.get_or_load(key("a"), stubborn))
    await stubborn_started.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    fresh = FakeGatedLoader()
    fresh.gate.set()
    lease = await cache.get_or_load(key("a"), fresh)
    stubborn_gate.set()
    await stubborn_returning.wait()  # admission follows the return in the same step
    assert fresh.values[0].close_calls == 0  # replaced, but still leased
    lease.release()
    cache.clear()
    assert stubborn_value.close_calls == 1
    assert fresh.values[0].close_calls == 1
