"""Reliability test harness: hosts over the fault store, time bounds, waits, figures.

Hosts run in the test process (so tests can look at the hub, the cache and the event loop's
tasks) with short storage timeouts from the environment variables of SPEC section 8:
``S5_DOWNLOAD_TIMEOUT_SECONDS=1``, ``S5_DOWNLOAD_RETRIES=2``. Figures the tests measure
(faults survived, fuzz cases, sessions held, search p99 while loading, leak checks) are
printed in a "s5vec reliability figures" section at the end of the run;
``docs/reliability.md`` quotes them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from aiohttp import web

from s5vec.config import Settings
from s5vec.server import create_app
from tests.server.helpers import HOST_PRIVATE_KEY, RunningHost

DOWNLOAD_TIMEOUT_S = 1.0
DOWNLOAD_RETRIES = 2
LOADING_TIMEOUT_MIN = 0.5
HOST_KEY = bytes.fromhex(HOST_PRIVATE_KEY)
HANG_SLACK_S = 5.0
"""Added to every computed time bound: the machine is shared and noisy; bounds catch hangs."""

HostFactory = Callable[..., Awaitable[RunningHost]]
F = TypeVar("F", bound=Callable[..., object])
SOAK_TIMEOUT_S = 1800


def soak(test: F) -> F:
    """Mark a heavy variant: run by ``make soak`` (``pytest -m soak``) only, long timeout."""
    marked: F = pytest.mark.soak(pytest.mark.timeout(SOAK_TIMEOUT_S)(test))
    return marked


class Figures:
    """Figures measured during the run, by heading; printed in the terminal summary."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}
        self.counts: dict[str, int] = {}

    def add(self, heading: str, line: str) -> None:
        """Record ``line`` under ``heading``."""
        self.lines.setdefault(heading, []).append(line)

    def tally(self, counter: str, n: int = 1) -> None:
        """Add ``n`` to ``counter`` (e.g. fuzz cases run)."""
        self.counts[counter] = self.counts.get(counter, 0) + n


def host_env(tmp_path: Path, store_url: str, **env: str) -> dict[str, str]:
    """A host environment reading ``store_url`` over the bridge API, short timeouts."""
    return {
        "S5VEC_HOST": "127.0.0.1",
        "S5VEC_PORT": "0",
        "S5VEC_DATA_DIR": str(tmp_path / "data"),
        "S5_STORAGE": "bridge",
        "ENHANCED_S5_URL": store_url,
        "S5_DOWNLOAD_TIMEOUT_SECONDS": str(DOWNLOAD_TIMEOUT_S),
        "S5_DOWNLOAD_RETRIES": str(DOWNLOAD_RETRIES),
        "S5_LOADING_TIMEOUT_MINUTES": str(LOADING_TIMEOUT_MIN),
        # Tests load many small databases at once: the limiter is tested on its own.
        "S5_RATE_LIMIT_REQUESTS": "100000",
        "S5_RATE_LIMIT_WINDOW_SECONDS": "1",
        "S5VEC_MAX_FRAME_MB": "1",
        "HOST_PRIVATE_KEY": HOST_PRIVATE_KEY,
        **env,
    }


async def start_app(settings: Settings) -> RunningHost:
    """Serve ``create_app(settings)`` on a free 127.0.0.1 port."""
    runner = web.AppRunner(create_app(settings), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    running = RunningHost("", runner)
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
    except BaseException:
        await running.stop()
        raise
    host, port = runner.addresses[0][:2]
    running.url = f"http://{host}:{port}"
    return running


def fetch_bound_s(timeout_s: float, retries: int) -> float:
    """Worst case of one file fetch: every attempt times out, every wait is the longest.

    A wait is the backoff (BridgeStorage: 0.5 s doubling, at most 10 s) or a Retry-After
    hint, which is capped at the per-file timeout.
    """
    waits = sum(max(min(10.0, 0.5 * 2 ** (i - 1)), timeout_s) for i in range(1, retries + 1))
    return (retries + 1) * timeout_s + waits


def load_bound_s(stages: int = 2) -> float:
    """Longest a load of the test databases may take: ``stages`` fetch rounds (manifest, then
    the chunks in parallel), within the whole-load timeout, plus slack."""
    worst = stages * fetch_bound_s(DOWNLOAD_TIMEOUT_S, DOWNLOAD_RETRIES)
    return min(worst, LOADING_TIMEOUT_MIN * 60) + HANG_SLACK_S


async def eventually(
    condition: Callable[[], bool], what: str | Callable[[], str], within_s: float = 10.0
) -> None:
    """Wait until ``condition()`` holds; fail naming ``what`` (a text, or a function giving
    the state to show) if it does not within the bound."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            shown = what() if callable(what) else what
            raise AssertionError(f"not within {within_s:g} s: {shown}")
        await asyncio.sleep(0.02)


def files_under(root: Path) -> list[Path]:
    """Every regular file below ``root``."""
    return [Path(d) / name for d, _, names in os.walk(root) for name in names]


def file_contents(root: Path) -> list[tuple[Path, bytes]]:
    """Every regular file below ``root`` with its bytes; a file gone between listing and
    reading is skipped (a background save renames its temporary file into place)."""
    found = []
    for path in files_under(root):
        try:
            found.append((path, path.read_bytes()))
        except FileNotFoundError:
            continue
    return found
