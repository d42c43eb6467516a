"""``s5vec serve`` (what ``make run`` runs): configuration errors, start-up, SIGTERM shutdown."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import aiohttp
import orjson
from aiohttp import WSCloseCode, WSMsgType

from s5vec.crypto.secp256k1 import HostKey
from tests.server.helpers import HOST_PRIVATE_KEY
from tests.server.process import S5VEC, clean_environ, serve_process


def test_a_bad_value_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [S5VEC, "serve"],
        env=clean_environ(S5VEC_PORT="abc", S5VEC_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "S5VEC_PORT" in lines[0]
    assert result.stdout == ""


def test_a_bad_host_key_is_reported_without_its_value(tmp_path: Path) -> None:
    secret = "ab" * 31 + "zz"
    result = subprocess.run(
        [S5VEC, "serve"],
        env=clean_environ(HOST_PRIVATE_KEY=secret, S5VEC_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "HOST_PRIVATE_KEY" in result.stderr
    assert secret not in result.stderr


def test_an_unusable_store_directory_exits_1_with_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = subprocess.run(
        [S5VEC, "serve"],
        env=clean_environ(
            S5VEC_PORT="0", S5VEC_DATA_DIR=str(tmp_path), S5_LOCAL_DIR=str(blocker / "s5")
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr


async def test_serve_starts_then_stops_cleanly_on_sigterm(tmp_path: Path, free_port: int) -> None:
    env = {
        "S5VEC_DATA_DIR": str(tmp_path / "data"),
        "S5_LOCAL_DIR": str(tmp_path / "s5"),
        "HOST_PRIVATE_KEY": HOST_PRIVATE_KEY,
    }
    async with (
        serve_process(free_port, tmp_path / "serve.log", **env) as server,
        aiohttp.ClientSession() as http,
    ):
        sockets = [await http.ws_connect(server.ws_url) for _ in range(2)]
        for ws in sockets:
            assert (await ws.receive_json(timeout=10))["type"] == "connected"
        await sockets[0].send_json({"type": "session_init", "session_id": "s1", "id": 1})
        assert (await sockets[0].receive_json(timeout=10))["type"] == "session_init_ack"
        async with http.get(server.url + "/health") as response:
            assert (await response.json())["status"] == "healthy"
        server.process.send_signal(signal.SIGTERM)
        for ws in sockets:
            closing = await ws.receive(timeout=30)
            assert closing.type is WSMsgType.CLOSE
            assert closing.data == WSCloseCode.GOING_AWAY
            await ws.close()
        assert await server.process.wait() == 0
        log = server.log()
    public_key = HostKey.from_hex(HOST_PRIVATE_KEY).public_key_compressed_hex
    assert f"http://127.0.0.1:{free_port}" in log
    assert public_key in log
    assert HOST_PRIVATE_KEY not in log
    assert "S5VEC_MAX_CONNECTIONS" in log  # the settings summary
    assert "stopped" in log


async def test_json_logs_are_one_object_per_line(tmp_path: Path, free_port: int) -> None:
    env = {
        "S5VEC_DATA_DIR": str(tmp_path / "data"),
        "S5_LOCAL_DIR": str(tmp_path / "s5"),
        "S5VEC_LOG_FORMAT": "json",
    }
    async with serve_process(free_port, tmp_path / "serve.log", **env) as server:
        assert await server.stop() == 0
        lines = server.log().splitlines()
    events = [orjson.loads(line) for line in lines]
    assert all({"event", "level", "timestamp"} <= set(event) for event in events)
    configuration = [event for event in events if event["event"] == "configuration"]
    assert len(configuration) == 1
    assert configuration[0]["S5_STORAGE"] == "local"
    assert configuration[0]["HOST_PRIVATE_KEY"] == "unset"
    assert any(event["event"] == "host_key" for event in events)
