"""README.md: the two commands first, the quick start run as written, the generated config table."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from s5vec.tools.config_table import config_table, table_in
from tests.docs.host import clean_environ, free_port, running_host
from tests.docs.markdown import REPO, links, marked_blocks, read

README = read("README.md")
QUICKSTART = marked_blocks(README, "quickstart")
COMMAND_TIMEOUT_S = 240


def test_readme_starts_with_make_run_and_make_test() -> None:
    first_block = README.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands[:2] == ["make run", "make test"]
    assert README.index("```sh") < README.index("## ")  # before any section


def test_config_table_matches_the_settings_class() -> None:
    # Run `.venv/bin/s5vec config-table --update README.md` after changing Settings.
    assert table_in(README) == config_table()


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", markdown, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_readme_and_docs_links_resolve() -> None:
    for doc in ("README.md", "docs/protocol.md", "docs/deployment.md", "docs/architecture.md"):
        base = (REPO / doc).parent
        for target in links(read(doc)):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.partition("#")
            file = (base / path) if path else REPO / doc
            assert file.exists(), f"{doc} links to missing {target}"
            if anchor and file.suffix == ".md":
                text = file.read_text(encoding="utf-8")
                assert anchor in _anchors(text), f"{doc} links to missing anchor {target}"


def test_readme_has_an_architecture_diagram() -> None:
    assert re.search(r"```mermaid\nflowchart", README)


def _run_block(name: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one README block exactly as written, as bash would in a terminal at the repo root."""
    done = subprocess.run(
        ["bash", "-e", "-u", "-o", "pipefail", "-c", QUICKSTART[name].text],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    assert done.returncode == 0, f"README block {name} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _ids_in_order(output: str, ids: list[str]) -> None:
    positions = [output.find(f" {ident} ") for ident in ids]
    assert all(p >= 0 for p in positions), (ids, output)
    assert positions == sorted(positions), (ids, output)


@pytest.mark.timeout(900)
def test_quickstart_runs_as_written(tmp_path: Path) -> None:
    """`make run` in one process, the client blocks in another, on a temp store and port.

    Only environment variables differ from a user's terminal (port, store and data dir), and
    the README's commands read exactly those.
    """
    assert set(QUICKSTART) == {"server", "client", "output", "filter", "encrypted"}
    assert QUICKSTART["server"].text.strip() == "make run"
    port = free_port()
    env = clean_environ(
        S5VEC_PORT=str(port),
        S5_LOCAL_DIR=str(tmp_path / "s5"),
        S5VEC_DATA_DIR=str(tmp_path / "data"),
    )
    server = ["bash", "-e", "-c", QUICKSTART["server"].text]
    with running_host(server, port, tmp_path / "make-run.log", env, REPO) as host:
        client = _run_block("client", env)
        documented = re.findall(r"│ \d+ │ (\S+)", QUICKSTART["output"].text)
        assert documented == ["s5-paths", "s5-chunks", "s5-bridge"]
        _ids_in_order(client.stdout, documented)
        assert "Loaded 12 vectors" in client.stderr

        filtered = _run_block("filter", env)
        assert re.findall(r'"id":"([^"]+)"', filtered.stdout) == ["search-uploads", "search-filter"]

        encrypted = _run_block("encrypted", env)
        _ids_in_order(encrypted.stdout, ["sec-cache", "sec-ecdh", "sec-owner"])
        assert "listening" in host.log()
