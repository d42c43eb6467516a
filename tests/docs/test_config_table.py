"""s5vec.tools.config_table: the README table generator and its ``s5vec config-table`` command."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from s5vec.cli import app
from s5vec.config import Settings
from s5vec.tools.config_table import (
    END_MARKER,
    START_MARKER,
    MarkerError,
    config_table,
    table_in,
    update_readme,
)


def test_table_has_one_row_per_setting_in_declaration_order() -> None:
    rows = config_table().splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == Settings.env_names()


def test_defaults_are_written_as_in_the_environment() -> None:
    rows = {row.split("`")[1]: row for row in config_table().splitlines()[2:]}
    assert "| `./data` |" in rows["S5VEC_DATA_DIR"]  # not "data"
    assert "| `true` |" in rows["S5VEC_REQUIRE_SIGNER_MATCH"]  # not "True"
    assert "| `30` |" in rows["S5_DOWNLOAD_TIMEOUT_SECONDS"]  # not "30.0"
    assert "| *unset* |" in rows["HOST_PRIVATE_KEY"]
    assert "| *empty* |" in rows["S5_PORTAL_URLS"]


def test_update_rewrites_only_the_marked_region(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n{START_MARKER}\nold table\n{END_MARKER}\ntail\n", "utf-8")
    assert update_readme(readme) is True
    text = readme.read_text("utf-8")
    assert text.startswith("# title\n")
    assert text.endswith(f"{END_MARKER}\ntail\n")
    assert table_in(text) == config_table()
    assert update_readme(readme) is False  # already up to date


def test_update_refuses_a_file_without_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"{END_MARKER}\n{START_MARKER}\n", "utf-8")
    with pytest.raises(MarkerError):
        update_readme(readme)


def test_cli_prints_the_table_and_updates_a_file(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(app, ["config-table"])
    assert printed.exit_code == 0
    assert printed.stdout == config_table()
    readme = tmp_path / "README.md"
    readme.write_text(f"{START_MARKER}\n{END_MARKER}\n", "utf-8")
    updated = runner.invoke(app, ["config-table", "--update", str(readme)])
    assert updated.exit_code == 0
    assert table_in(readme.read_text("utf-8")) == config_table()
    missing = runner.invoke(app, ["config-table", "--update", str(tmp_path / "nope.md")])
    assert missing.exit_code == 1
