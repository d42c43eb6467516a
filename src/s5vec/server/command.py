"""The ``s5vec serve`` command: validate the environment, then run the host service."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import typer

from s5vec.config import ConfigError, Settings
from s5vec.errors import S5VecError
from s5vec.server.runner import run

CONFIG_ERROR_EXIT = 2
RUNTIME_ERROR_EXIT = 1


def serve_command() -> None:
    """Run the host service in the foreground until SIGINT or SIGTERM (configured by env)."""
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        _fail(str(exc), CONFIG_ERROR_EXIT)
    try:
        run(settings)
    except OSError as exc:  # e.g. the port is taken
        where = f"{settings.s5vec_host}:{settings.s5vec_port}"
        _fail(f"cannot serve on {where}: {exc.strerror or exc}", RUNTIME_ERROR_EXIT)
    except S5VecError as exc:  # e.g. the local store directory cannot be created
        _fail(f"cannot start: {exc.message}", RUNTIME_ERROR_EXIT)
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were installed
        pass


def _fail(message: str, code: int) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)
