"""The ``s5vec`` command line: publish, inspect and the dev store, as a user runs them.

The happy path and the dev store run the installed console script in a subprocess; the
matrix of bad inputs runs ``s5vec.cli.app`` in process (typer's CliRunner), which is the same
code without a few seconds of interpreter start-up per case. Every bad input must exit
non-zero with exactly one ``error:`` line on stderr and no traceback.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from s5vec.cli import app
from s5vec.formats import ChunkEntry, Manifest, encode_chunk, encode_manifest
from s5vec.formats.cid import cid_for_bytes, format_cid

SCRIPT = Path(sys.executable).with_name("s5vec")
OWNER = "0x" + "ab" * 20
KEY_HEX = "0x" + "11" * 32
MANIFEST = f"home/vector-databases/{OWNER}/docs/manifest.json"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STARTUP_DEADLINE_S = 120.0
"""How long the dev store may take to start on a loaded machine (a readiness wait, not a test)."""


def plain(text: str) -> str:
    """``text`` without terminal escape codes (in case a CI forces colour)."""
    return ANSI.sub("", text)


def error_lines(stderr: str) -> list[str]:
    """The stderr lines that report an error."""
    return [line for line in plain(stderr).splitlines() if line.startswith("error:")]


def run_script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the installed ``s5vec`` console script."""
    return subprocess.run(
        [str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


def invoke(*args: str | Path) -> Result:
    """Run the CLI in process."""
    return CliRunner().invoke(app, [str(arg) for arg in args])


def assert_one_error(result: Result, fragment: str) -> None:
    """Exit code != 0, no traceback, and exactly one ``error:`` line holding ``fragment``."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    """Five 3-dimensional rows as .npy."""
    path = tmp_path / "v.npy"
    np.save(path, np.arange(15, dtype=np.float32).reshape(5, 3) / 4)
    return path


@pytest.fixture
def metadata(tmp_path: Path) -> Path:
    """One metadata object per row of ``rows``."""
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps({"row": i}) + "\n" for i in range(5)))
    return path


@pytest.fixture
def store(tmp_path: Path, rows: Path, metadata: Path) -> Path:
    """A store directory holding an encrypted ``docs`` database (published in process)."""
    directory = tmp_path / "s5"
    result = invoke(
        "publish", rows, "--owner", OWNER, "--name", "docs", "--store", directory,
        "--metadata", metadata, "--chunk-size", "2", "--encrypt-key", KEY_HEX,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return directory


# --- the real console script -------------------------------------------------------------


def test_publish_then_inspect_with_the_console_script(
    tmp_path: Path, rows: Path, metadata: Path
) -> None:
    directory = tmp_path / "s5"
    published = run_script(
        "publish", rows, "--owner", OWNER, "--name", "docs", "--store", directory,
        "--metadata", metadata, "--format", "json", "--chunk-size", "2",
        "--encrypt-key", KEY_HEX, "--description", "five rows",
    )  # fmt: skip
    assert published.returncode == 0, published.stderr
    assert published.stdout.splitlines()[-1] == MANIFEST
    assert "Published 5 vectors in 3 chunks" in plain(published.stderr)
    assert (directory / MANIFEST).is_file()
    assert sorted(p.name for p in (directory / MANIFEST).parent.iterdir()) == [
        "chunk-0.json",
        "chunk-1.json",
        "chunk-2.json",
        "manifest.json",
    ]

    inspected = run_script("inspect", MANIFEST, "--store", directory, "--key", KEY_HEX)
    assert inspected.returncode == 0, inspected.stderr
    assert inspected.stdout.splitlines()[-1] == "OK: 5 vectors in 3 chunks validated"
    assert "five rows" in inspected.stdout
    assert "json, encrypted" in inspected.stdout
    assert "3/3" in inspected.stdout


def test_a_bad_input_gives_one_error_line_from_the_console_script(tmp_path: Path) -> None:
    bad = tmp_path / "v.npy"
    np.save(bad, np.array([[1.0, np.nan]], dtype=np.float32))
    result = run_script("publish", bad, "--owner", OWNER, "--name", "x", "--store", tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    message = f"error: {bad}: row 0 holds NaN, Inf or a number beyond the float32 range"
    assert error_lines(result.stderr) == [message]
    assert result.stdout == ""


def wait_until_serving(url: str, server: subprocess.Popen[str]) -> None:
    """Poll ``/health`` until the server answers (fail if it exits first)."""
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        assert server.poll() is None, server.communicate()[1]
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    pytest.fail("the dev store did not start")


@pytest.fixture
def served(store: Path, free_port: int) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``s5vec store serve`` over ``store`` on a free port; killed if a test leaves it running."""
    server = subprocess.Popen(
        [str(SCRIPT), "store", "serve", "--dir", str(store), "--port", str(free_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{free_port}"
    try:
        wait_until_serving(url, server)
        yield url, server
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


def test_store_serve_serves_a_published_directory_and_stops_on_sigint(
    store: Path, served: tuple[str, subprocess.Popen[str]]
) -> None:
    url, server = served
    with urllib.request.urlopen(f"{url}/s5/fs/{MANIFEST}") as resp:
        assert resp.read() == (store / MANIFEST).read_bytes()
    chunk = (store / MANIFEST).with_name("chunk-1.json").read_bytes()
    with urllib.request.urlopen(f"{url}/s5/blob/{format_cid(cid_for_bytes(chunk))}") as resp:
        assert resp.read() == chunk
    with urllib.request.urlopen(f"{url}/s5/fs/home/vector-databases/{OWNER}/docs/") as resp:
        assert json.load(resp)["entries"][-1] == "manifest.json"

    # The CLI reads the same database over HTTP, through the bridge backend.
    inspected = invoke("inspect", MANIFEST, "--store", url, "--key", KEY_HEX)
    assert inspected.exit_code == 0, inspected.output
    assert inspected.stdout.splitlines()[-1] == "OK: 5 vectors in 3 chunks validated"

    server.send_signal(signal.SIGINT)
    _, stderr = server.communicate(timeout=60)
    assert server.returncode == 0
    assert "Traceback" not in stderr
    assert error_lines(stderr) == []


# --- bad inputs, in process ----------------------------------------------------------------


def _write(name: str, content: str) -> Callable[[Path], Path]:
    def write(directory: Path) -> Path:
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        return path

    return write


def _npy(values: list[list[float]]) -> Callable[[Path], Path]:
    def write(directory: Path) -> Path:
        path = directory / "bad.npy"
        np.save(path, np.array(values, dtype=np.float32))
        return path

    return write


def _missing(name: str) -> Callable[[Path], Path]:
    return lambda directory: directory / name


RAGGED = '{"id": "a", "vector": [1, 2]}\n{"id": "b", "vector": [1]}\n'
DUPLICATES = '{"id": "a", "vector": [1]}\n{"id": "a", "vector": [2]}\n'


@pytest.mark.parametrize(
    ("make_source", "extra", "fragment"),
    [
        (_missing("none.npy"), [], "none.npy: no such file"),
        (_missing("x[/]y/[red]none.npy"), [], "x[/]y/[red]none.npy: no such file"),
        (_write("v.txt", "1 2\n"), [], "expected a .npy or .jsonl file"),
        (_write("v.jsonl", ""), [], "no vectors"),
        (_write("v.jsonl", RAGGED), [], "v.jsonl:2: 1 dimensions, expected 2"),
        (_write("v.jsonl", DUPLICATES), [], "vector ids must be unique"),
        (_write("v.jsonl", "{nope\n"), [], "v.jsonl:1: not valid JSON"),
        (_npy([[1.0, 2.0], [np.nan, 0.0]]), [], "row 1 holds NaN"),
        (_npy([[1.0]]), ["--owner", "0x1234"], "INVALID_ADDRESS"),
        (_npy([[1.0]]), ["--name", "a/b"], "INVALID_PATH"),
        (_npy([[1.0]]), ["--name", ".."], "INVALID_PATH"),
        (_npy([[1.0]]), ["--encrypt-key", "zz"], "the key must be 64 hex digits"),
        (_npy([[1.0]]), ["--encrypt-key", "00" * 16], "the key must be 64 hex digits"),
        (_npy([[1.0]]), ["--format", "xml"], "--format must be cbor or json"),
        (_npy([[1.0]]), ["--chunk-size", "0"], "chunk size must be 1..1000000"),
        (_npy([[1.0], [2.0]]), ["--metadata", "{dir}/one.jsonl"], "needs exactly one JSON"),
        (_npy([[1.0]]), ["--metadata", "{dir}/gone.jsonl"], "gone.jsonl: no such file"),
        (_npy([[1.0]]), ["--store", "{dir}/one.jsonl"], "Cannot create the storage directory"),
    ],
)
def test_publish_bad_input(
    tmp_path: Path, make_source: Callable[[Path], Path], extra: list[str], fragment: str
) -> None:
    source = make_source(tmp_path)
    (tmp_path / "one.jsonl").write_text("{}\n")
    options = {"--owner": OWNER, "--name": "db", "--store": str(tmp_path / "s5")}
    given = [arg.format(dir=tmp_path) for arg in extra]
    options.update(zip(given[::2], given[1::2], strict=True))
    result = invoke("publish", source, *(item for pair in options.items() for item in pair))
    assert_one_error(result, fragment)
    assert list(tmp_path.rglob("manifest.json")) == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([MANIFEST.replace("docs", "other")], "MANIFEST_NOT_FOUND"),
        ([MANIFEST, "--key", "0x" + "22" * 32], "DECRYPTION_FAILED"),
        ([MANIFEST], "INVALID_SESSION_KEY"),
        ([MANIFEST, "--key", "12"], "the key must be 64 hex digits"),
        (["home/vector-databases/0x12/docs/manifest.json"], "INVALID_PATH"),
        (["../manifest.json"], "INVALID_PATH"),
    ],
)
def test_inspect_bad_input(store: Path, args: list[str], fragment: str) -> None:
    assert_one_error(invoke("inspect", *args, "--store", store), fragment)


def test_inspect_a_deleted_chunk(store: Path) -> None:
    (store / MANIFEST).with_name("chunk-1.json").unlink()
    result = invoke("inspect", MANIFEST, "--store", store, "--key", KEY_HEX)
    assert_one_error(result, "CHUNK_DOWNLOAD_FAILED: Chunk file chunk-1.json is missing")


def test_inspect_a_tampered_chunk(store: Path) -> None:
    chunk = (store / MANIFEST).with_name("chunk-2.json")
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 1
    chunk.write_bytes(bytes(data))
    result = invoke("inspect", MANIFEST, "--store", store, "--key", KEY_HEX)
    assert_one_error(result, "DECRYPTION_FAILED")


def test_inspect_of_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    assert_one_error(
        invoke("inspect", MANIFEST, "--store", tmp_path / "typo"), "MANIFEST_NOT_FOUND"
    )
    assert not (tmp_path / "typo").exists()


def test_inspect_of_an_unreachable_store(free_port: int) -> None:
    result = invoke("inspect", MANIFEST, "--store", f"http://127.0.0.1:{free_port}")
    assert_one_error(result, "MANIFEST_DOWNLOAD_FAILED")


def test_inspect_prints_names_from_the_file_literally(tmp_path: Path) -> None:
    # Manifest text is data, not rich markup: "[/]" would crash the table, "[red]" vanish.
    directory = tmp_path / "s5"
    chunk_file = (directory / MANIFEST).with_name("chunk-0.json")
    chunk_file.parent.mkdir(parents=True)
    chunk_file.write_bytes(encode_chunk(0, (["a"], np.ones((1, 2)), [{}])))
    entry = ChunkEntry(chunk_id=0, cid="c", vector_count=1)
    manifest = Manifest(
        name="[/]", owner=OWNER, description="[red]x", vector_count=1, chunks=[entry], chunk_count=1
    )
    (directory / MANIFEST).write_bytes(encode_manifest(manifest))
    result = invoke("inspect", MANIFEST, "--store", directory)
    assert result.exit_code == 0, result.output
    assert "[/]" in result.stdout
    assert "[red]x" in result.stdout


def test_store_serve_on_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = invoke("store", "serve", "--dir", tmp_path, "--port", str(port))
    assert_one_error(result, f"cannot serve on 127.0.0.1:{port}")


def test_store_serve_over_a_file(tmp_path: Path, free_port: int) -> None:
    (tmp_path / "file").write_text("x")
    result = invoke("store", "serve", "--dir", tmp_path / "file", "--port", str(free_port))
    assert_one_error(result, "Cannot create the storage directory")
