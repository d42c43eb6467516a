"""The real server as a child process (``.venv/bin/s5vec serve``), and what /proc says of it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from s5vec.config import Settings

S5VEC = Path(sys.executable).parent / "s5vec"
START_TIMEOUT_S = 60.0
HOST_PRIVATE_KEY = "33" * 32
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fresh_data_dir(work_dir: Path, name: str) -> Path:
    """A new, empty ``S5VEC_DATA_DIR`` under ``work_dir``: no server restores another's images."""
    return Path(tempfile.mkdtemp(prefix=f"data-{name}-", dir=work_dir))


def server_environ(store_dir: Path, data_dir: Path, port: int, extra: dict[str, str]) -> dict:
    """This process's environment without s5vec's variables, plus the benchmark's."""
    ours = {name.upper() for name in Settings.env_names()}
    env = {name: value for name, value in os.environ.items() if name.upper() not in ours}
    env.update(
        S5VEC_HOST="127.0.0.1",
        S5VEC_PORT=str(port),
        S5_STORAGE="local",
        S5_LOCAL_DIR=str(store_dir),
        S5VEC_DATA_DIR=str(data_dir),
        HOST_PRIVATE_KEY=HOST_PRIVATE_KEY,
        S5VEC_LOG_FORMAT="json",
        S5VEC_LOG_LEVEL="warning",
    )
    env.update(extra)
    return env


def read_status(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM, RssAnon and RssFile of ``pid`` in MiB (from /proc/<pid>/status)."""
    wanted = {"VmRSS", "VmHWM", "RssAnon", "RssFile"}
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in wanted:
                values[name] = int(rest.split()[0]) / 1024.0  # kB
    return values


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and all its threads (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime


@dataclass
class Server:
    """A running ``s5vec serve``: URLs, pid, log file."""

    process: asyncio.subprocess.Process
    port: int
    log_path: Path
    env: dict[str, str]

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint."""
        return f"ws://127.0.0.1:{self.port}/v1/ws"

    def rss(self) -> dict[str, float]:
        """Memory figures of the server process, MiB."""
        return read_status(self.pid)

    def cpu(self) -> float:
        """CPU seconds used so far."""
        return cpu_seconds(self.pid)

    async def wait_idle(
        self, timeout_s: float, window_s: float = 0.5, busy_share: float = 0.05
    ) -> tuple[float, bool]:
        """Wait until the server uses < ``busy_share`` of a core over ``window_s``.

        This is how the harness sees that a background graph build finished: the server
        exposes no signal for it, and an idle host burns no CPU. Returns the
        ``time.perf_counter()`` at which the server went idle (to within ``window_s``) and
        whether it was idle from the first window on (then it may have gone idle earlier);
        raises TimeoutError after ``timeout_s``.
        """
        started = time.perf_counter()
        window_start, previous = started, self.cpu()
        while True:
            await asyncio.sleep(window_s)
            now = self.cpu()
            if now - previous < busy_share * window_s:
                return window_start, window_start == started
            window_start, previous = time.perf_counter(), now
            if window_start - started > timeout_s:
                raise TimeoutError(f"the server stayed busy for {timeout_s:.0f} s")

    async def metrics(self) -> dict[str, float]:
        """``/metrics`` as sample name -> value, summed over label sets."""
        async with aiohttp.ClientSession() as http, http.get(self.http_url + "/metrics") as reply:
            reply.raise_for_status()
            text = await reply.text()
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[sample.name] = samples.get(sample.name, 0.0) + sample.value
        return samples

    async def stop(self) -> int:
        """SIGTERM, wait, and return the exit code (SIGKILL after the start timeout)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), START_TIMEOUT_S)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return int(self.process.returncode or 0)


async def start_server(
    store_dir: Path, data_dir: Path, log_path: Path, extra_env: dict[str, str] | None = None
) -> Server:
    """Start ``s5vec serve`` on a free port and wait until ``/health`` answers 200."""
    port = free_port()
    env = server_environ(store_dir, data_dir, port, extra_env or {})
    with _log_sink(log_path, data_dir) as sink:
        process = await asyncio.create_subprocess_exec(
            S5VEC, "serve", env=env, stdout=sink, stderr=sink
        )
    server = Server(process, port, log_path, env)
    try:
        await _wait_healthy(server)
    except BaseException:
        await server.stop()
        raise
    return server


def _log_sink(log_path: Path, data_dir: Path) -> BinaryIO:
    """The server's log file (appended), after creating its data directory."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return log_path.open("ab")


async def _wait_healthy(server: Server) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(START_TIMEOUT_S):
        while True:
            if server.process.returncode is not None:
                raise RuntimeError(f"s5vec serve exited early; see {server.log_path}")
            try:
                async with http.get(server.http_url + "/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
