"""IndexCache: keys, LRU + TTL + byte bounds, and leases."""

from collections.abc import Iterable

import pytest

from s5vec.cache import IndexCache, Lease
from tests.cache.fakes import FakeIndex, FakeLoader, key, make_cache, ready

Cache = IndexCache[FakeIndex, str]


async def put(cache: Cache, name: str, size: int = 10) -> FakeIndex:
    """Load ``name`` into the cache and release the lease at once."""
    value = FakeIndex(size, name)
    with await cache.get_or_load(key(name), ready(value)):
        pass
    return value


def cached_names(cache: Cache, names: Iterable[str]) -> set[str]:
    found = set()
    for name in names:
        lease = cache.acquire(key(name))
        if lease is not None:
            found.add(name)
            lease.release()
    return found


async def test_second_call_for_same_key_is_a_hit_without_loading() -> None:
    cache, _ = make_cache()
    loader = FakeLoader()
    first = await cache.get_or_load(key("a"), loader)
    second = await cache.get_or_load(key("a"), loader)
    assert loader.calls == 1
    assert (first.source, second.source) == ("load", "cache")
    assert second.value is first.value
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


async def test_a_different_session_key_never_hits_the_same_path() -> None:
    cache, _ = make_cache()
    loader = FakeLoader()
    salt = cache.salt
    owner = cache.key_for(key("a").manifest_path, b"k" * 32, b"manifest")
    other = cache.key_for(key("a").manifest_path, b"x" * 32, b"manifest")
    plaintext = cache.key_for(key("a").manifest_path, None, b"manifest")
    assert len({owner, other, plaintext}) == 3
    assert cache.salt is salt
    owner_lease = await cache.get_or_load(owner, loader)
    other_lease = await cache.get_or_load(other, loader)
    plain_lease = await cache.get_or_load(plaintext, loader)
    assert loader.calls == 3
    assert other_lease.source == plain_lease.source == "load"
    assert len({id(owner_lease.value), id(other_lease.value), id(plain_lease.value)}) == 3
    assert cache.acquire(cache.key_for(key("a").manifest_path, b"y" * 32, b"manifest")) is None


async def test_a_changed_manifest_is_a_miss() -> None:
    cache, _ = make_cache()
    loader = FakeLoader()
    path = key("a").manifest_path
    await cache.get_or_load(cache.key_for(path, b"k" * 32, b'{"v":1}'), loader)
    lease = await cache.get_or_load(cache.key_for(path, b"k" * 32, b'{"v":2}'), loader)
    assert loader.calls == 2
    assert lease.source == "load"


async def test_least_recently_used_entry_is_evicted_first() -> None:
    cache, _ = make_cache(max_entries=2)
    a = await put(cache, "a")
    b = await put(cache, "b")
    touched = cache.acquire(key("a"))
    assert touched is not None
    touched.release()
    await put(cache, "c")
    assert cached_names(cache, "abc") == {"a", "c"}
    assert (a.close_calls, b.close_calls) == (0, 1)
    assert len(cache) == 2


async def test_entries_expire_after_the_ttl() -> None:
    cache, clock = make_cache(ttl_s=10)
    a = await put(cache, "a")
    clock.advance(9.9)
    assert cached_names(cache, "a") == {"a"}  # a hit does not extend the lifetime
    clock.advance(0.1)
    assert cached_names(cache, "a") == set()
    assert a.close_calls == 1
    assert len(cache) == 0


async def test_sweep_frees_expired_entries_on_an_idle_cache() -> None:
    cache, clock = make_cache(ttl_s=10)
    a = await put(cache, "a")
    b = await put(cache, "b")
    clock.advance(5)
    c = await put(cache, "c")
    clock.advance(5)
    assert cache.sweep() == 2
    assert (a.close_calls, b.close_calls, c.close_calls) == (1, 1, 0)
    assert cache.memory_bytes() == c.size


async def test_byte_bound_evicts_least_recently_used_until_it_fits() -> None:
    cache, _ = make_cache(max_bytes=100)
    a = await put(cache, "a", 60)
    await put(cache, "b", 30)
    await put(cache, "c", 50)
    assert cached_names(cache, "abc") == {"b", "c"}
    assert cache.memory_bytes() == 80
    assert a.close_calls == 1


async def test_an_entry_larger_than_the_byte_bound_is_served_but_not_cached() -> None:
    cache, _ = make_cache(max_bytes=100)
    small = await put(cache, "small", 40)
    big = FakeIndex(150)
    lease = await cache.get_or_load(key("big"), ready(big))
    assert lease.value is big
    assert cached_names(cache, ["big", "small"]) == {"small"}
    assert small.close_calls == 0  # nothing was evicted to make room
    assert big.close_calls == 0
    lease.release()
    assert big.close_calls == 1


async def test_cache_size_zero_disables_caching() -> None:
    cache, _ = make_cache(max_entries=0)
    loader = FakeLoader()
    lease = await cache.get_or_load(key("a"), loader)
    assert len(cache) == 0
    lease.release()
    assert loader.values[0].close_calls == 1
    await cache.get_or_load(key("a"), loader)
    assert loader.calls == 2


async def test_leases_keep_an_evicted_index_open_until_the_last_release() -> None:
    cache, _ = make_cache(max_entries=1)
    a = FakeIndex(10, "a")
    first = await cache.get_or_load(key("a"), ready(a))
    second = cache.acquire(key("a"))
    assert second is not None
    await put(cache, "b")  # evicts a while two sessions still use it
    assert cached_names(cache, "a") == set()
    assert a.close_calls == 0
    first.release()
    first.release()  # idempotent
    assert a.close_calls == 0
    assert second.value is a
    second.release()
    assert a.close_calls == 1
    with pytest.raises(RuntimeError):
        _ = second.value


async def test_clear_closes_unleased_values_and_defers_leased_ones() -> None:
    cache, _ = make_cache()
    a = await put(cache, "a")
    b = FakeIndex(10, "b")
    lease: Lease[FakeIndex] = await cache.get_or_load(key("b"), ready(b))
    cache.clear()
    assert (len(cache), cache.memory_bytes()) == (0, 0)
    assert (a.close_calls, b.close_calls) == (1, 0)
    lease.release()
    assert b.close_calls == 1


async def test_remeasure_applies_the_byte_bound_to_a_grown_value() -> None:
    cache, _ = make_cache(max_bytes=100)
    a = await put(cache, "a", 30)
    b = await put(cache, "b", 30)
    b.size = 60  # e.g. its ANN graph finished building
    cache.remeasure(key("b"))
    assert cache.memory_bytes() == 90
    b.size = 80
    cache.remeasure(key("b"))
    assert cached_names(cache, "ab") == {"b"}
    assert a.close_calls == 1
    b.size = 120
    cache.remeasure(key("b"))
    assert (len(cache), b.close_calls) == (0, 1)
    cache.remeasure(key("gone"))


async def test_remeasure_keeps_the_original_expiry() -> None:
    cache, clock = make_cache(ttl_s=10)
    a = await put(cache, "a", 30)
    clock.advance(6)
    a.size = 40
    cache.remeasure(key("a"))
    clock.advance(4)
    assert cached_names(cache, "a") == set()


async def test_hit_and_miss_callbacks() -> None:
    hits: list[None] = []
    misses: list[None] = []
    cache, _ = make_cache(on_hit=lambda: hits.append(None), on_miss=lambda: misses.append(None))
    await put(cache, "a")
    await put(cache, "a")
    assert cache.acquire(key("b")) is None
    assert (len(hits), len(misses)) == (1, 1)
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


async def test_a_value_whose_close_fails_does_not_break_eviction() -> None:
    class BadClose(FakeIndex):
        def close(self) -> None:
            super().close()
            raise OSError("close failed")

    cache, _ = make_cache(max_entries=1)
    bad = BadClose(10)
    with await cache.get_or_load(key("a"), ready(bad)):
        pass
    await put(cache, "b")
    assert bad.close_calls == 1
    assert cached_names(cache, "ab") == {"b"}


def test_invalid_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="TTL"):
        IndexCache(max_entries=1, max_bytes=1, ttl_s=0)
    with pytest.raises(ValueError, match="bounds"):
        IndexCache(max_entries=-1, max_bytes=1, ttl_s=1)


async def test_remeasure_changed_counts_grown_values_and_keeps_the_others_lru_order() -> None:
    cache, _ = make_cache(max_entries=3, max_bytes=1000)
    await put(cache, "a", 30)
    await put(cache, "b", 30)
    c = await put(cache, "c", 30)
    assert cached_names(cache, "a") == {"a"}  # a hit: the LRU order is now b, c, a
    assert cache.remeasure_changed() == 0  # looks at every entry without touching it
    c.size = 100  # e.g. its ANN graph finished building
    assert cache.remeasure_changed() == 1
    assert cache.memory_bytes() == 160
    await put(cache, "d", 30)  # evicts the least recently used: b (c was re-inserted)
    assert cached_names(cache, "abcd") == {"a", "c", "d"}
