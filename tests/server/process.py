"""Run ``.venv/bin/s5vec serve`` as ``make run`` does: a child process configured by env."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from s5vec.config import Settings

S5VEC = Path(sys.executable).parent / "s5vec"
START_TIMEOUT_S = 60.0


def clean_environ(**env: str) -> dict[str, str]:
    """The test process's environment without any s5vec variable, plus ``env``."""
    ours = set(Settings.env_names())
    base = {name: value for name, value in os.environ.items() if name.upper() not in ours}
    return {**base, **env}


@dataclass
class ServeProcess:
    """A running ``s5vec serve`` child: its URL, process and combined output file."""

    url: str
    process: asyncio.subprocess.Process
    output: Path

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint."""
        return self.url.replace("http://", "ws://") + "/v1/ws"

    async def stop(self) -> int:
        """SIGTERM, then the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), START_TIMEOUT_S)

    def log(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        return self.output.read_text(encoding="utf-8")


@asynccontextmanager
async def serve_process(port: int, output: Path, **env: str) -> AsyncIterator[ServeProcess]:
    """Start ``s5vec serve`` on ``port``, wait until ``/health`` answers, kill it on exit."""
    with output.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            S5VEC,
            "serve",
            env=clean_environ(S5VEC_PORT=str(port), **env),
            stdout=sink,
            stderr=sink,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_until_up(url, process, output)
        yield ServeProcess(url, process, output)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _wait_until_up(url: str, process: asyncio.subprocess.Process, output: Path) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(START_TIMEOUT_S):
        while True:
            if process.returncode is not None:
                raise AssertionError(f"s5vec serve exited early; its output is in {output}")
            try:
                async with http.get(url + "/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
