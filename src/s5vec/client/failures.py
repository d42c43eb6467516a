"""Client-side errors: one ``ClientError`` carrying the wire ``code`` and ``message``.

Error frames and ``loading_error`` events from the host become instances that are both a
``ClientError`` and the matching ``s5vec.errors`` class, so ``except OwnerMismatch`` works on
the client exactly as on the server. Failures of the client itself use the codes below.
"""

from __future__ import annotations

from s5vec.errors import ALL_ERRORS, S5VecError

CONNECTION_FAILED = "CONNECTION_FAILED"
"""The WebSocket (or the host-key request) could not be opened."""
CONNECTION_CLOSED = "CONNECTION_CLOSED"
"""The socket closed or failed while a request or a load was outstanding."""
PROTOCOL_ERROR = "PROTOCOL_ERROR"
"""The host sent a frame that breaks SPEC sections 1-4 (missing field, wrong first frame)."""
CLIENT_TIMEOUT = "CLIENT_TIMEOUT"
"""No reply (or no end of the load) within the time the caller allowed."""
NOT_LOADING = "NOT_LOADING"
"""``progress`` / ``wait_loaded`` on a session that requested no vector database."""


class ClientError(Exception):
    """A failure seen by the client: an error from the host, or of the connection itself."""

    code: str
    message: str

    def __init__(
        self,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        session_id: str | None = None,
    ) -> None:
        # Not super().__init__: the mixed-in s5vec.errors classes would reword the message.
        Exception.__init__(self, message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.session_id = session_id

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


def _remote_class(base: type[S5VecError]) -> type[ClientError]:
    name = f"Remote{base.__name__}"
    doc = f"``{base.code}`` reported by the host (a ClientError and a {base.__name__})."
    cls: type[ClientError] = type(
        name, (ClientError, base), {"__doc__": doc, "__module__": __name__}
    )
    return cls


_REMOTE_BY_CODE: dict[str, type[ClientError]] = {
    error.code: _remote_class(error) for error in ALL_ERRORS
}


def remote_error(
    code: str,
    message: str,
    *,
    request_id: str | None = None,
    session_id: str | None = None,
) -> ClientError:
    """The ClientError for a host's ``code``, also an instance of its s5vec.errors class."""
    cls = _REMOTE_BY_CODE.get(code, ClientError)
    return cls(code, message, request_id=request_id, session_id=session_id)
