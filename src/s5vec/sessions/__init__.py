"""Sessions: per-connection session state and every WebSocket message handler (SPEC 1-4).

The server creates one ``SessionHub`` (``hub``) with the shared loader, host key, settings
(``SessionConfig``), metrics (``SessionObserver``) and logger; per WebSocket it calls
``hub.connect(send)`` and feeds each decoded frame to ``Connection.handle``, then
``Connection.close`` on disconnect. Messages and frames are declared in ``messages`` and
``frames``; init validation is ``handshake``; the session's load and uploads ``session``;
uploads and searches ``vectors``.
"""

from s5vec.sessions.config import (
    NullSessionObserver,
    SessionConfig,
    SessionLogger,
    SessionObserver,
)
from s5vec.sessions.connection import Connection, SendFrame
from s5vec.sessions.hub import SessionHub

__all__ = [
    "Connection",
    "NullSessionObserver",
    "SendFrame",
    "SessionConfig",
    "SessionHub",
    "SessionLogger",
    "SessionObserver",
]
