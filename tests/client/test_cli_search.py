"""``s5vec search`` against the fake host: table and JSON output, query sources, errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
from typer.testing import CliRunner, Result

from s5vec.cli import app
from tests.client.fake_host import FakeHostServer, Refusal, fake_host

OWNER_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
OWNER = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
MANIFEST = f"home/vector-databases/{OWNER}/my-docs/manifest.json"
SESSION_KEY = bytes(range(0xA0, 0xC0))
LOAD = [
    {"event": "manifest_downloaded", "message": "Manifest downloaded"},
    {"event": "chunk_downloaded", "chunk_id": 0, "total": 2, "percent": 50},
    {"event": "chunk_downloaded", "chunk_id": 1, "total": 2, "percent": 100},
    {"event": "index_building", "message": "Building"},
    {"event": "loading_complete", "vector_count": 20, "duration_ms": 7, "message": "done"},
]
HITS = [
    {"id": "alpha", "score": 0.9876, "metadata": {"title": "First"}},
    {"id": "beta", "score": 0.5, "metadata": {"title": "Second"}},
    {"id": "gamma", "score": 0.25, "metadata": {}},
]


async def _search(host: FakeHostServer, *args: str) -> Result:
    """Run the CLI in a worker thread: it runs its own event loop while the fake serves."""
    argv = ["search", "--url", host.url, "--manifest-path", MANIFEST, *args]
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, app, argv, env={"COLUMNS": "120"})


def _search_frame(host: FakeHostServer) -> dict[str, Any]:
    (frame,) = host.frames("searchVectors")
    return frame


async def test_search_prints_a_table_of_hits_after_the_load() -> None:
    async with fake_host(load_events=LOAD, search_results=HITS) as host:
        result = await _search(host, "--query", "[0.1, 0.2, 0.3]", "--k", "2")
    assert result.exit_code == 0, result.output
    assert "alpha" in result.stdout
    assert "0.9876" in result.stdout
    assert '{"title":"First"}' in result.stdout
    assert "beta" in result.stdout
    assert "gamma" not in result.stdout
    assert "Loaded 20 vectors" in result.stderr
    (init,) = host.frames("session_init")
    assert init["vector_database"] == {"manifest_path": MANIFEST, "user_address": OWNER}
    assert _search_frame(host)["queryVector"] == [0.1, 0.2, 0.3]
    assert _search_frame(host)["k"] == 2
    assert host.violations == []


async def test_search_json_prints_machine_readable_results() -> None:
    async with fake_host(load_events=LOAD, search_results=HITS) as host:
        result = await _search(
            host,
            "--query",
            "[1, 0]",
            "--json",
            "--threshold",
            "0.3",
            "--filter",
            '{"lang": "en"}',
        )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body == {"results": HITS, "totalVectors": 3, "searchTimeMs": 0.25}
    frame = _search_frame(host)
    assert (frame["threshold"], frame["metadataFilter"]) == (0.3, {"lang": "en"})


async def test_search_reads_the_query_from_a_json_file(tmp_path: Path) -> None:
    query_file = tmp_path / "query.json"
    query_file.write_text("[0.5, -0.5]")
    async with fake_host(load_events=LOAD, search_results=HITS) as host:
        result = await _search(host, "--query", f"@{query_file}", "--json")
    assert result.exit_code == 0, result.output
    assert _search_frame(host)["queryVector"] == [0.5, -0.5]


async def test_search_reads_the_query_from_a_row_of_an_npy_file(tmp_path: Path) -> None:
    npy = tmp_path / "queries.npy"
    np.save(npy, np.array([[1.0, 2.0], [0.25, 0.75]], dtype=np.float32))
    async with fake_host(load_events=LOAD, search_results=HITS) as host:
        result = await _search(host, "--query-npy", str(npy), "--row", "1", "--json")
    assert result.exit_code == 0, result.output
    assert _search_frame(host)["queryVector"] == [0.25, 0.75]


async def test_search_with_a_key_sends_an_encrypted_init_signed_by_the_owner() -> None:
    async with fake_host(load_events=LOAD, search_results=HITS) as host:
        result = await _search(
            host,
            "--query",
            "[1, 0]",
            "--key",
            SESSION_KEY.hex(),
            "--signer-key",
            "0x" + OWNER_KEY.hex(),
            "--json",
        )
    assert result.exit_code == 0, result.output
    assert host.frames("session_init") == []
    (opened,) = host.opened
    assert opened.session_key == SESSION_KEY
    assert opened.client_address == OWNER


async def test_a_key_without_signer_key_is_refused_before_connecting() -> None:
    async with fake_host() as host:
        result = await _search(host, "--query", "[1]", "--key", SESSION_KEY.hex())
    assert result.exit_code == 1
    assert "--signer-key" in result.stderr
    assert SESSION_KEY.hex() not in result.output
    assert host.received == []


async def test_a_loading_error_is_one_line_and_exit_1() -> None:
    failed = [{"event": "loading_error", "error_code": "DATABASE_DELETED", "error": "deleted"}]
    async with fake_host(load_events=failed) as host:
        result = await _search(host, "--query", "[1]")
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert lines == ["error: DATABASE_DELETED: deleted"]
    assert host.frames("searchVectors") == []


async def test_an_init_error_is_one_line_and_exit_1() -> None:
    refusal = Refusal("OWNER_MISMATCH", "not yours")
    async with fake_host(refuse={"session_init": refusal}) as host:
        result = await _search(host, "--query", "[1]")
    assert result.exit_code == 1
    assert "error: OWNER_MISMATCH: not yours" in result.stderr


async def test_an_unreachable_host_is_connection_failed(free_port: int) -> None:
    argv = ["search", "--url", f"ws://127.0.0.1:{free_port}/v1/ws", "--manifest-path", MANIFEST]
    result = await asyncio.to_thread(CliRunner().invoke, app, [*argv, "--query", "[1]"])
    assert result.exit_code == 1
    assert "CONNECTION_FAILED" in result.stderr


async def test_bad_query_options_are_refused() -> None:
    async with fake_host() as host:
        both = await _search(host, "--query", "[1]", "--query-npy", "x.npy")
        neither = await _search(host)
        not_numbers = await _search(host, "--query", '["a"]')
    for result in (both, neither, not_numbers):
        assert result.exit_code == 1
        assert "error:" in result.stderr
    assert host.received == []
