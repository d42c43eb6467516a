"""The process-wide entry point of the sessions layer: one ``SessionHub`` per server.

The server creates the hub with the shared loader, the host key (None: encrypted inits
get ``ENCRYPTION_NOT_SUPPORTED``), the settings, a metrics observer and a logger, then calls
``connect(send)`` per WebSocket and ``close()`` per disconnect, and ``hub.close()`` on
shutdown. ``active_sessions`` counts connections holding an acknowledged session.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog

from s5vec.crypto.secp256k1 import HostKey
from s5vec.index import DatabaseIndex
from s5vec.loader import VectorLoader
from s5vec.sessions.config import (
    NullSessionObserver,
    SessionConfig,
    SessionLogger,
    SessionObserver,
)
from s5vec.sessions.connection import Connection, SendFrame
from s5vec.sessions.services import Services


class SessionHub:
    """Shared dependencies and bookkeeping of every connection of the process."""

    def __init__(
        self,
        loader: VectorLoader[Any, DatabaseIndex],
        host_key: HostKey | None,
        config: SessionConfig,
        observer: SessionObserver | None = None,
        logger: SessionLogger | logging.Logger | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` must be the loader's clock (both default to ``time.monotonic``)."""
        if logger is None:
            log: SessionLogger = structlog.get_logger("s5vec.sessions")
        elif isinstance(logger, logging.Logger):
            # Keyword context through structlog's configured processors into the stdlib logger.
            log = structlog.wrap_logger(logger)
        else:
            log = logger
        self._services = Services(
            loader=loader,
            host_key=host_key,
            config=config,
            observer=observer if observer is not None else NullSessionObserver(),
            log=log,
            clock=clock,
            executor=ThreadPoolExecutor(config.worker_threads, thread_name_prefix="s5vec-vectors"),
        )
        self._connections: set[Connection] = set()
        self._with_session: set[Connection] = set()

    def connect(self, send: SendFrame) -> Connection:
        """A new connection whose replies and progress frames go through ``send``."""
        connection = Connection(send, self._services, self._session_opened, self._closed)
        self._connections.add(connection)
        return connection

    @property
    def active_sessions(self) -> int:
        """Connections holding an acknowledged session."""
        return len(self._with_session)

    @property
    def connections(self) -> int:
        """Open connections (with or without a session)."""
        return len(self._connections)

    async def close(self) -> None:
        """Close every connection (cancel loads, release leases), then stop the workers."""
        for connection in list(self._connections):
            await connection.close()
        self._services.executor.shutdown(wait=False, cancel_futures=True)

    def _session_opened(self, connection: Connection) -> None:
        self._with_session.add(connection)
        self._services.observer.on_session_opened()

    def _closed(self, connection: Connection) -> None:
        self._connections.discard(connection)
        if connection in self._with_session:
            self._with_session.discard(connection)
            self._services.observer.on_session_closed()
