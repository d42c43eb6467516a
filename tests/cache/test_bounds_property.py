"""Property: under any sequence of loads, leases, clock moves, re-measures and clears, the
cache never holds more than N entries or B bytes, never closes a leased value, closes
each value at most once, and leaks nothing once everything is released."""

import asyncio

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from s5vec.cache import IndexCache, Lease
from tests.cache.fakes import FakeClock, FakeIndex, key, ready

NAMES = st.sampled_from("abcdef")
SIZES = st.integers(min_value=0, max_value=150)


class CacheMachine(RuleBasedStateMachine):
    """Drives one IndexCache with a fake clock and checks its bounds after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.values: list[FakeIndex] = []
        self.leases: list[Lease[FakeIndex]] = []
        self.cache: IndexCache[FakeIndex, str] = IndexCache(max_entries=1, max_bytes=1, ttl_s=1)

    @initialize(
        max_entries=st.integers(min_value=0, max_value=4),
        max_bytes=st.integers(min_value=0, max_value=200),
        ttl_s=st.floats(min_value=1, max_value=50),
    )
    def make(self, max_entries: int, max_bytes: int, ttl_s: float) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.cache = IndexCache(
            max_entries=max_entries, max_bytes=max_bytes, ttl_s=ttl_s, timer=self.clock
        )

    @rule(name=NAMES, size=SIZES, keep=st.booleans())
    def load(self, name: str, size: int, keep: bool) -> None:
        loader = ready(FakeIndex(size, name))
        lease = self.loop.run_until_complete(self.cache.get_or_load(key(name), loader))
        if lease.source == "load":
            self.values.append(lease.value)
        if keep:
            self.leases.append(lease)
        else:
            lease.release()

    @rule(name=NAMES)
    def acquire(self, name: str) -> None:
        lease = self.cache.acquire(key(name))
        if lease is not None:
            assert lease.value.close_calls == 0
            self.leases.append(lease)

    @precondition(lambda self: bool(self.leases))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        lease = self.leases.pop(data.draw(st.integers(0, len(self.leases) - 1)))
        lease.release()

    @rule(seconds=st.floats(min_value=0, max_value=30))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(name=NAMES, size=SIZES)
    def grow_or_shrink(self, name: str, size: int) -> None:
        lease = self.cache.acquire(key(name))
        if lease is not None:
            lease.value.size = size
            lease.release()
            self.cache.remeasure(key(name))

    @rule()
    def sweep(self) -> None:
        self.cache.sweep()

    @rule()
    def clear(self) -> None:
        self.cache.clear()
        assert (len(self.cache), self.cache.memory_bytes()) == (0, 0)

    @invariant()
    def within_bounds(self) -> None:
        assert len(self.cache) <= self.max_entries
        assert self.cache.memory_bytes() <= self.max_bytes

    @invariant()
    def leased_values_are_open_and_closes_happen_once(self) -> None:
        assert all(lease.value.close_calls == 0 for lease in self.leases)
        assert all(value.close_calls <= 1 for value in self.values)

    def teardown(self) -> None:
        for lease in self.leases:
            lease.release()
        self.cache.clear()
        self.loop.close()
        assert all(value.close_calls == 1 for value in self.values), "a value leaked"


CacheMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
test_cache_bounds = CacheMachine.TestCase
