"""Shared pytest fixtures: free ports and a real dev store on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from s5vec.devstore import start


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (nothing listens on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def dev_store_dir(tmp_path: Path) -> Path:
    """The directory the ``dev_store`` fixture serves, laid out like ``S5_LOCAL_DIR``."""
    return tmp_path / "devstore"


@pytest.fixture
async def dev_store(dev_store_dir: Path) -> AsyncIterator[str]:
    """Base URL of a real dev store on 127.0.0.1, on a port the OS picked, over a tmp dir."""
    store = await start(dev_store_dir, "127.0.0.1", 0)
    try:
        yield store.url
    finally:
        await store.stop()
