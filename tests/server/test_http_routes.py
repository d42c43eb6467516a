"""HTTP routes (SPEC sections 1 and 8): health, metrics, version and host key."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import aiohttp
import pytest

import s5vec
from s5vec.crypto.secp256k1 import HostKey, parse_public_key
from tests.server.conftest import HostFactory
from tests.server.helpers import HOST_PRIVATE_KEY, RunningHost

SPEC_METRICS = (
    "s5_download_duration_seconds",
    "s5_download_errors_total",
    "s5_vectors_loaded_total",
    "vector_index_build_duration_seconds",
    "vector_index_cache_hits_total",
    "vector_index_cache_misses_total",
    "vector_loading_total",
    "vector_loading_duration_seconds",
    "vector_search_duration_seconds",
    "active_sessions",
)


async def test_health_is_healthy_with_a_writable_local_store(
    host: RunningHost, http: aiohttp.ClientSession
) -> None:
    async with http.get(host.url + "/health") as response:
        assert response.status == 200
        body = await response.json()
    assert body == {
        "status": "healthy",
        "storage": {"backend": "local", "healthy": True},
        "sessions": 0,
        "issues": [],
    }


async def test_health_is_degraded_when_the_local_store_is_gone(
    start_host: HostFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    host = await start_host(S5_LOCAL_DIR=str(tmp_path / "vanishing"))
    shutil.rmtree(tmp_path / "vanishing")
    async with http.get(host.url + "/health") as response:
        assert response.status == 200
        body = await response.json()
    assert body["status"] == "degraded"
    assert body["storage"] == {"backend": "local", "healthy": False}
    assert body["issues"]


async def test_health_is_healthy_with_a_reachable_bridge(
    start_host: HostFactory, http: aiohttp.ClientSession, dev_store: str
) -> None:
    host = await start_host(S5_STORAGE="bridge", ENHANCED_S5_URL=dev_store)
    async with http.get(host.url + "/health") as response:
        body = await response.json()
    assert body["status"] == "healthy"
    assert body["storage"] == {"backend": "bridge", "healthy": True}


async def test_health_is_degraded_when_the_bridge_is_down(
    start_host: HostFactory, http: aiohttp.ClientSession, free_port: int
) -> None:
    host = await start_host(S5_STORAGE="bridge", ENHANCED_S5_URL=f"http://127.0.0.1:{free_port}")
    async with http.get(host.url + "/health") as response:
        assert response.status == 200
        body = await response.json()
    assert body["status"] == "degraded"
    assert body["storage"]["backend"] == "bridge"
    assert body["storage"]["healthy"] is False
    assert str(free_port) not in str(body)  # never the address of the backend
    assert any("bridge" in issue for issue in body["issues"])


async def test_metrics_expose_every_spec_metric(
    host: RunningHost, http: aiohttp.ClientSession
) -> None:
    async with http.get(host.url + "/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    declared = set(re.findall(r"^# TYPE (\S+) ", text, flags=re.MULTILINE))
    samples = set(re.findall(r"^([a-z_0-9]+)[{ ]", text, flags=re.MULTILINE))
    for name in SPEC_METRICS:
        assert name in samples or name in declared, name
    for outcome in ("success", "failure", "timeout", "cancelled"):
        assert f'vector_loading_total{{outcome="{outcome}"}} 0.0' in text


async def test_each_app_has_its_own_metrics_registry(
    start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    first, second = await start_host(), await start_host()
    first.services.metrics.on_cache_hit()
    texts = []
    for host in (first, second):
        async with http.get(host.url + "/metrics") as response:
            texts.append(await response.text())
    assert "vector_index_cache_hits_total 1.0" in texts[0]
    assert "vector_index_cache_hits_total 0.0" in texts[1]


async def test_version_lists_the_features(host: RunningHost, http: aiohttp.ClientSession) -> None:
    async with http.get(host.url + "/v1/version") as response:
        body = await response.json()
    assert body["version"] == s5vec.__version__
    assert {"s5-vector-loading", "encrypted-vector-database-paths"} <= set(body["features"])


async def test_host_key_is_the_compressed_public_key(
    host: RunningHost, http: aiohttp.ClientSession
) -> None:
    async with http.get(host.url + "/v1/host-key") as response:
        body = await response.json()
    public = body["publicKey"]
    assert re.fullmatch(r"0x0[23][0-9a-f]{64}", public)
    assert len(bytes.fromhex(public[2:])) == 33
    parse_public_key(bytes.fromhex(public[2:]))
    assert public == HostKey.from_hex(HOST_PRIVATE_KEY).public_key_compressed_hex


async def test_host_key_is_created_in_the_data_dir_when_unset(
    start_host: HostFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    host = await start_host(HOST_PRIVATE_KEY="", S5VEC_DATA_DIR=str(tmp_path / "fresh"))
    async with http.get(host.url + "/v1/host-key") as response:
        public = (await response.json())["publicKey"]
    key_file = tmp_path / "fresh" / "host_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert HostKey.from_hex(key_file.read_text()).public_key_compressed_hex == public


@pytest.mark.parametrize("route", ["/v1/host-key", "/health"])
async def test_without_a_host_key_the_server_still_runs(
    start_host: HostFactory, http: aiohttp.ClientSession, tmp_path: Path, route: str
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    host = await start_host(HOST_PRIVATE_KEY="", S5VEC_DATA_DIR=str(blocker))
    async with http.get(host.url + route) as response:
        body = await response.json()
    if route == "/v1/host-key":
        assert response.status == 503
        assert body["error"] == "ENCRYPTION_NOT_SUPPORTED"
    else:
        assert body["status"] == "degraded"
        assert any("host key" in issue for issue in body["issues"])
