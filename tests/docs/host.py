"""Real hosts for the docs tests: ``s5vec serve`` (or ``make run``) as a child process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from s5vec.config import Settings
from tests.docs.markdown import REPO

S5VEC = Path(sys.executable).parent / "s5vec"
START_TIMEOUT_S = 90.0
"""Generous: start-up imports numpy and usearch, on a shared and possibly busy machine."""
STOP_TIMEOUT_S = 30.0

OWNER = "0xf226464ba7098ce55c082e9e12d9ee7cc9af01f7"
"""The address of ``SIGNER_KEY``: the owner of every example database."""
SIGNER_KEY = "0x39a5ba0a291035ed8dac76b87f55eb064150f924b1a6d1fa7c3cf2fe20b4c84f"
SESSION_KEY = "0x06ebc7dd1a785192a7dac7f94e9368049eaae07dbf6d662cd7ff6aa54f273c26"
HOST_KEY = "0x8401e5f42cc8691d46b57c51bb70d8bbfc8eaae389a9b2206781e8a6a43c525b"
SAMPLE = REPO / "docs" / "examples" / "quickstart.jsonl"
PLAIN_DB = "quickstart"
ENCRYPTED_DB = "quickstart-encrypted"


def manifest_path(name: str) -> str:
    """The S5 path of the example database ``name``."""
    return f"home/vector-databases/{OWNER}/{name}/manifest.json"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def clean_environ(**env: str) -> dict[str, str]:
    """This process's environment without s5vec variables or make's, plus ``env``.

    A user's terminal has no ``MAKEFLAGS``: without this, a ``make`` started from inside
    ``make test`` would join its jobserver.
    """
    drop = {name.upper() for name in Settings.env_names()} | {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}
    base = {name: value for name, value in os.environ.items() if name.upper() not in drop}
    return {**base, **env}


def publish_examples(store: Path) -> None:
    """Publish the sample as the plaintext and the encrypted example database into ``store``."""
    common = [str(SAMPLE), "--store", str(store), "--owner", OWNER, "--chunk-size", "4"]
    for extra in (["--name", PLAIN_DB], ["--name", ENCRYPTED_DB, "--encrypt-key", SESSION_KEY]):
        subprocess.run(
            [S5VEC, "publish", *common, *extra], check=True, capture_output=True, timeout=120
        )


@dataclass
class Host:
    """A running host child process."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint."""
        return self.url.replace("http://", "ws://") + "/v1/ws"

    def get(self, path: str) -> tuple[int, bytes]:
        """``GET path``: status and body."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def get_json(self, path: str) -> object:
        """``GET path`` answered 200 with JSON: the value."""
        status, body = self.get(path)
        assert status == 200, (path, status, body[:200])
        return json.loads(body)

    def log(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def running_host(
    command: Sequence[str | Path], port: int, log_path: Path, env: dict[str, str], cwd: Path
) -> Iterator[Host]:
    """Start ``command`` in its own process group, wait for ``/health``, stop it on exit."""
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            [str(part) for part in command],
            cwd=cwd,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make and its s5vec child get SIGTERM together
        )
    host = Host(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_until_up(host)
        yield host
    finally:
        _stop(process)


def _wait_until_up(host: Host) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if host.process.poll() is not None:
            raise AssertionError(f"the host exited early:\n{host.log()}")
        try:
            if host.get("/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the host did not answer /health in {START_TIMEOUT_S} s:\n{host.log()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
