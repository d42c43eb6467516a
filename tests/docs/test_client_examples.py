"""The Python and JavaScript clients of docs/protocol.md, run as written against a real host."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from s5vec.client import ClientError
from tests.docs.host import (
    ENCRYPTED_DB,
    OWNER,
    PLAIN_DB,
    SESSION_KEY,
    SIGNER_KEY,
    Host,
    manifest_path,
)
from tests.docs.markdown import marked_blocks, read

# The shared docs host starts with the first test that uses it (a busy machine is slow).
pytestmark = pytest.mark.timeout(600)

EXAMPLES = marked_blocks(read("docs/protocol.md"), "example")
STORAGE_QUERY = [0.9, 0.1, 0.0, 0.1]
STORAGE_TOP3 = ["s5-paths", "s5-chunks", "s5-bridge"]
NODE_TIMEOUT_S = 120

# The harness appended to the documented JavaScript: arguments in, JSON out.
JS_HARNESS = """
const [url, manifestPath, userAddress, query] = process.argv.slice(2);
const progress = [];
try {
  const results = await searchDatabase({
    url, manifestPath, userAddress, query: JSON.parse(query), onProgress: (p) => progress.push(p),
  });
  console.log(JSON.stringify({ results, progress }));
} catch (error) {
  console.log(JSON.stringify({ error: error.code, message: error.message, progress }));
}
"""


def _python_example() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "protocol_example"}  # not __main__: define only
    exec(compile(EXAMPLES["python-client"].text, "docs/protocol.md", "exec"), namespace)
    return namespace


async def test_python_example_searches_a_plaintext_database(
    docs_host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    search_database = _python_example()["search_database"]
    hits = await search_database(docs_host.ws_url, manifest_path(PLAIN_DB), OWNER, STORAGE_QUERY)
    assert [hit["id"] for hit in hits] == STORAGE_TOP3
    assert hits[0]["metadata"]["topic"] == "storage"
    assert "loading: 100%" in capsys.readouterr().out


async def test_python_example_searches_an_encrypted_database(docs_host: Host) -> None:
    search_database = _python_example()["search_database"]
    hits = await search_database(
        docs_host.ws_url,
        manifest_path(ENCRYPTED_DB),
        OWNER,
        [0.05, 0.1, 0.95, 0.1],
        session_key=bytes.fromhex(SESSION_KEY[2:]),
        signer_key=bytes.fromhex(SIGNER_KEY[2:]),
    )
    assert [hit["id"] for hit in hits] == ["sec-cache", "sec-ecdh", "sec-owner"]


async def test_python_example_raises_the_load_error(docs_host: Host) -> None:
    search_database = _python_example()["search_database"]
    with pytest.raises(ClientError) as raised:
        await search_database(docs_host.ws_url, manifest_path("no-such-db"), OWNER, STORAGE_QUERY)
    assert raised.value.code == "MANIFEST_NOT_FOUND"


def _node_command() -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the JavaScript example needs Node.js 20 or later")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    if major < 20:
        pytest.skip(f"node {version.stdout.strip()} has no WebSocket; the example needs 20+")
    # Node 20 and 21 have the browser WebSocket behind a flag; 22 and later by default.
    return [node, "--experimental-websocket"] if major < 22 else [node]


def _run_js(tmp_path: Path, host: Host, database: str, query: list[float]) -> dict[str, Any]:
    script = tmp_path / "client.mjs"
    script.write_text(EXAMPLES["js-client"].text + "\n" + JS_HARNESS, encoding="utf-8")
    args = [host.ws_url, manifest_path(database), OWNER, json.dumps(query)]
    done = subprocess.run(
        [*_node_command(), str(script), *args],
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    output: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return output


def test_javascript_example_searches_a_database(tmp_path: Path, docs_host: Host) -> None:
    output = _run_js(tmp_path, docs_host, PLAIN_DB, STORAGE_QUERY)
    assert "error" not in output, output
    assert [hit["id"] for hit in output["results"]] == STORAGE_TOP3
    assert output["progress"][-1] == 100
    assert output["progress"] == sorted(output["progress"])


def test_javascript_example_reports_a_load_error_without_retrying(
    tmp_path: Path, docs_host: Host
) -> None:
    output = _run_js(tmp_path, docs_host, "no-such-db", STORAGE_QUERY)
    assert output["error"] == "MANIFEST_NOT_FOUND", output
    assert output["progress"] == []
