"""Reliability fixtures: the fault-injecting store, hosts reading it, the fuzz target, figures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from s5vec.config import Settings
from tests.faults.store import FaultyStore, faulty_store
from tests.reliability.fuzzing import Target, open_target
from tests.reliability.harness import Figures, HostFactory, host_env, start_app
from tests.server.helpers import RunningHost

FIGURES = pytest.StashKey[Figures]()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    """Where a test records the figures it measured."""
    return request.config.stash.setdefault(FIGURES, Figures())


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the figures measured in this run."""
    collected = config.stash.get(FIGURES, None)
    if collected is None:
        return
    terminalreporter.section("s5vec reliability figures")
    for heading, lines in collected.lines.items():
        terminalreporter.write_line(f"{heading}:")
        for line in lines:
            terminalreporter.write_line(f"  {line}")
    if collected.counts:
        terminalreporter.write_line("counts:")
        for counter, n in sorted(collected.counts.items()):
            terminalreporter.write_line(f"  {counter}: {n}")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FaultyStore]:
    """A fault-injecting store over ``tmp_path/s5`` (no faults until a test scripts them)."""
    async with faulty_store(tmp_path / "s5") as running:
        yield running


@pytest.fixture
async def start_host(tmp_path: Path, store: FaultyStore) -> AsyncIterator[HostFactory]:
    """``await start_host(ENV=value)``: a host over ``store``; every host stops at teardown."""
    hosts: list[RunningHost] = []

    async def start(**env: str) -> RunningHost:
        settings = Settings.from_env(host_env(tmp_path, store.url, **env))
        running = await start_app(settings)
        hosts.append(running)
        return running

    try:
        yield start
    finally:
        for running in reversed(hosts):
            await running.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for the test's sockets and requests."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def target(
    request: pytest.FixtureRequest,
    store: FaultyStore,
    start_host: HostFactory,
    http: aiohttp.ClientSession,
    figures: Figures,
) -> AsyncIterator[Target]:
    """The host under fuzzing, with a loaded bystander that must never be disturbed."""
    name = request.node.name.removeprefix("test_").removesuffix("_soak").split("[")[0]
    async with open_target(store, await start_host(), http, figures, name) as fuzz:
        yield fuzz
