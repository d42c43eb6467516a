"""Rate gate: an ``aiolimiter.AsyncLimiter`` that refuses waits ending past the load deadline."""

from __future__ import annotations

import asyncio

from aiolimiter import AsyncLimiter

from s5vec.errors import RateLimitExceeded


class RateGate:
    """Wraps one shared limiter (one per remote backend, shared by every session).

    Before queueing, it estimates the wait from the requests already queued through it: with
    the bucket full, the n-th waiter gets a slot after about ``n x time_period / max_rate``.
    A wait that would end past the load's deadline fails at once with ``RateLimitExceeded``
    rather than burning the rest of the load's time; a wait that overruns the estimate is cut
    at the deadline with the same error.
    """

    def __init__(self, limiter: AsyncLimiter) -> None:
        self._limiter = limiter
        self._waiting = 0

    async def acquire(self, deadline: float) -> None:
        """Take one request slot, or raise ``RateLimitExceeded`` (``deadline``: loop time)."""
        loop = asyncio.get_running_loop()
        if not self._limiter.has_capacity():
            per_slot = self._limiter.time_period / self._limiter.max_rate
            if loop.time() + (self._waiting + 1) * per_slot > deadline:
                raise RateLimitExceeded()
        self._waiting += 1
        try:
            async with asyncio.timeout_at(deadline):
                await self._limiter.acquire()
        except TimeoutError:
            raise RateLimitExceeded() from None
        finally:
            self._waiting -= 1
