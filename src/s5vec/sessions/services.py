"""The process-wide dependencies every connection shares (built once by ``SessionHub``)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from s5vec.crypto.secp256k1 import HostKey
from s5vec.index import DatabaseIndex
from s5vec.loader import VectorLoader
from s5vec.sessions.config import SessionConfig, SessionLogger, SessionObserver

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Services:
    """Loader, host key, settings, metrics, logger, clock and the vector worker threads."""

    loader: VectorLoader[Any, DatabaseIndex]
    host_key: HostKey | None
    config: SessionConfig
    observer: SessionObserver
    log: SessionLogger
    clock: Callable[[], float]
    """The loader's clock: ack times are passed to it as ``started_at``."""
    executor: Executor
    """Runs searches and upload validation (milliseconds of numpy or Python) off the loop."""

    async def offload(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` on the vector worker threads, so other sessions stay responsive."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))
