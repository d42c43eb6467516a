"""``S5VecClient``: one WebSocket connection to an s5vec host (SPEC sections 1-4).

One reader task owns the socket's receive side and hands every frame to a ``FrameRouter``;
requests register their id first, send, then await their own future.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

import aiohttp
import msgspec

from s5vec.client.failures import (
    CLIENT_TIMEOUT,
    CONNECTION_CLOSED,
    CONNECTION_FAILED,
    NOT_LOADING,
    PROTOCOL_ERROR,
    ClientError,
)
from s5vec.client.frames import (
    EncryptedInitPlaintext,
    EncryptedSessionInitFrame,
    JsonId,
    LoadingProgress,
    OutgoingFrame,
    Reply,
    SearchResponse,
    SearchVectorsFrame,
    SessionAck,
    SessionInitFrame,
    UploadVectorsFrame,
    UploadVectorsResponse,
    VectorDatabase,
    VectorDatabaseCamel,
    VectorRecord,
    encode_frame,
)
from s5vec.client.router import FrameRouter, LoadState
from s5vec.client.transport import fetch_host_key, is_connected_frame, open_socket
from s5vec.client.uploads import MAX_VECTORS_PER_MESSAGE, UploadResult, batches, merge_results
from s5vec.crypto.envelope import seal_session_init

logger = logging.getLogger(__name__)

DEFAULT_URL = "ws://127.0.0.1:8080/v1/ws"
CONNECT_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 30.0
SESSION_KEY_SIZE = 32
DatabaseSpec = tuple[str, str]
"""``(manifest_path, user_address)``."""
ReplyT = TypeVar("ReplyT", SessionAck, UploadVectorsResponse, SearchResponse)


class S5VecClient:
    """A connected client; open it with ``async with S5VecClient.connect(url) as client``."""

    def __init__(
        self,
        url: str,
        http: aiohttp.ClientSession,
        ws: aiohttp.ClientWebSocketResponse,
        *,
        request_timeout: float,
    ) -> None:
        self.url = url
        self._http = http
        self._ws = ws
        self._request_timeout = request_timeout
        self._router = FrameRouter()
        self._ids = itertools.count(1)
        self._host_key: bytes | None = None
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        url: str = DEFAULT_URL,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        request_timeout: float = REQUEST_TIMEOUT_S,
        http: aiohttp.ClientSession | None = None,
    ) -> AsyncIterator[S5VecClient]:
        """Open the socket, read the ``connected`` frame, and close everything on exit."""
        own_http = http is None
        session = http or aiohttp.ClientSession()
        try:
            ws = await open_socket(session, url, connect_timeout)
            client = cls(url, session, ws, request_timeout=request_timeout)
            try:
                await client._handshake(connect_timeout)
                yield client
            finally:
                await client.close()
        finally:
            if own_http:
                await session.close()

    async def _handshake(self, seconds: float) -> None:
        try:
            message = await self._ws.receive(timeout=seconds)
        except TimeoutError:
            raise ClientError(CONNECTION_FAILED, "the host sent no `connected` frame") from None
        if message.type is not aiohttp.WSMsgType.TEXT or not is_connected_frame(message.data):
            raise ClientError(PROTOCOL_ERROR, "the host's first frame was not `connected`")
        self._reader = asyncio.create_task(self._read_loop(), name="s5vec-client-reader")

    async def _read_loop(self) -> None:
        try:
            async for message in self._ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    self._router.dispatch(message.data)
                elif message.type is aiohttp.WSMsgType.ERROR:
                    break
                else:
                    logger.debug("ignoring a %s frame from the host", message.type.name)
        except (aiohttp.ClientError, OSError) as exc:
            logger.debug("the WebSocket failed: %s", exc)
        finally:
            code = self._ws.close_code
            reason = f" (close code {code})" if code is not None else ""
            self._router.close(
                ClientError(CONNECTION_CLOSED, f"the connection to the host closed{reason}")
            )

    async def close(self) -> None:
        """Close the socket; waiting requests and loads end with CONNECTION_CLOSED."""
        with suppress(aiohttp.ClientError, OSError):
            await self._ws.close()
        if self._reader is not None:
            await self._reader
        self._router.close(ClientError(CONNECTION_CLOSED, "the client closed the connection"))

    @property
    def session_id(self) -> str | None:
        """The session most recently initialised on this connection."""
        load = self._router.load
        return load.session_id if load is not None else None

    # --- Session initialisation ---------------------------------------------------------

    async def host_public_key(self) -> bytes:
        """The host's compressed secp256k1 public key from ``GET /v1/host-key`` (cached)."""
        if self._host_key is None:
            self._host_key = await fetch_host_key(self._http, self.url, self._request_timeout)
        return self._host_key

    async def init_session(
        self,
        session_id: str,
        *,
        job_id: JsonId | None = None,
        chain_id: JsonId | None = None,
        vector_database: DatabaseSpec | None = None,
    ) -> SessionAck:
        """Plain ``session_init``; return the ack or raise the host's error as a ClientError."""
        rid = self._next_id()
        database = VectorDatabase(*vector_database) if vector_database else None
        frame = SessionInitFrame(
            session_id=session_id,
            id=rid,
            job_id=job_id,
            chain_id=chain_id,
            vector_database=database,
        )
        return await self._init(frame, rid, session_id, database is not None)

    async def init_encrypted_session(
        self,
        session_id: str,
        signer_private_key: bytes,
        session_key: bytes,
        *,
        chain_id: JsonId | None = None,
        job_id: JsonId | None = None,
        model_name: str | None = None,
        price_per_token: int | None = None,
        vector_database: DatabaseSpec | None = None,
        recovery_public_key: str | None = None,
        eip191: bool = False,
        host_public_key: bytes | None = None,
    ) -> SessionAck:
        """Seal the camelCase init to the host key, send ``encrypted_session_init``, await the ack.

        ``signer_private_key`` must be the database owner's key when a database is named.
        The ack's ``client_address`` is the signer the host recovered.
        """
        if len(session_key) != SESSION_KEY_SIZE:
            raise ValueError("the session key must be 32 bytes (AES-256)")
        plaintext = EncryptedInitPlaintext(
            session_key="0x" + session_key.hex(),
            job_id=None if job_id is None else str(job_id),
            model_name=model_name,
            price_per_token=price_per_token,
            vector_database=VectorDatabaseCamel(*vector_database) if vector_database else None,
            recovery_public_key=recovery_public_key,
        )
        host_key = host_public_key or await self.host_public_key()
        payload = seal_session_init(
            msgspec.json.encode(plaintext), host_key, signer_private_key, eip191=eip191
        )
        rid = self._next_id()
        frame = EncryptedSessionInitFrame(
            session_id=session_id, id=rid, payload=payload, chain_id=chain_id
        )
        ack = await self._init(frame, rid, session_id, vector_database is not None)
        if not ack.client_address:
            raise ClientError(
                PROTOCOL_ERROR,
                "the host's encrypted init ack has no client_address",
                request_id=rid,
            )
        return ack

    async def _init(
        self, frame: OutgoingFrame, rid: str, session_id: str, requested: bool
    ) -> SessionAck:
        # Track the new session before sending: its first progress may follow the ack at once.
        load = self._router.start_load(session_id, requested)
        try:
            ack = await self._request(frame, rid, SessionAck)
        except ClientError as exc:
            load.fail(exc)
            raise
        if ack.status != "success":
            error = ClientError(PROTOCOL_ERROR, f"session_init_ack status is {ack.status!r}")
            load.fail(error)
            raise error
        return ack

    # --- Loading progress ---------------------------------------------------------------

    def _current_load(self) -> LoadState:
        load = self._router.load
        if load is None or not load.requested:
            raise ClientError(NOT_LOADING, "this session did not request a vector database")
        return load

    async def progress(self) -> AsyncIterator[LoadingProgress]:
        """The current session's progress payloads from the first, ending with the final one."""
        async for event in self._current_load().iterate():
            yield event

    # `timeout` is part of the public API; asyncio.timeout enforces it inside.
    async def wait_loaded(self, timeout: float | None = None) -> LoadingProgress:  # noqa: ASYNC109
        """The ``loading_complete`` payload; raise the ``loading_error`` code as a ClientError."""
        load = self._current_load()
        try:
            async with asyncio.timeout(timeout):
                while load.end is None:
                    await load.changed()
        except TimeoutError:
            raise ClientError(
                CLIENT_TIMEOUT,
                f"the vector database did not finish loading within {timeout:g} s",
                session_id=load.session_id,
            ) from None
        return load.outcome()

    # --- Vector messages ----------------------------------------------------------------

    async def upload_vectors(
        self,
        vectors: Iterable[VectorRecord | Mapping[str, Any]],
        *,
        replace: bool = False,
    ) -> UploadResult:
        """Upload vectors, at most 1000 per frame, and add up the replies.

        Only the first frame carries ``replace``. If a later frame gets an error frame the
        earlier ones stay uploaded; the ClientError says how many went in.
        """
        records = [_record(vector) for vector in vectors]
        replies: list[UploadVectorsResponse] = []
        done = 0
        for index, batch in enumerate(batches(records, MAX_VECTORS_PER_MESSAGE)):
            rid = self._next_id()
            frame = UploadVectorsFrame(
                request_id=rid, replace=replace and index == 0, vectors=batch
            )
            try:
                replies.append(await self._request(frame, rid, UploadVectorsResponse))
            except ClientError as exc:
                if done:
                    exc.message += f" (the first {done} vectors were uploaded)"
                raise
            done += len(batch)
        return merge_results(replies)

    async def search(
        self,
        query_vector: Iterable[float],
        k: int = 5,
        threshold: float | None = None,
        metadata_filter: Mapping[str, Any] | None = None,
    ) -> SearchResponse:
        """``searchVectors``; hits come back best first with their cosine ``score``."""
        rid = self._next_id()
        frame = SearchVectorsFrame(
            request_id=rid,
            query_vector=[float(x) for x in query_vector],
            k=k,
            threshold=threshold,
            metadata_filter=dict(metadata_filter) if metadata_filter is not None else None,
        )
        return await self._request(frame, rid, SearchResponse)

    # --- Plumbing -----------------------------------------------------------------------

    def _next_id(self) -> str:
        return f"r{next(self._ids)}"

    async def _request(self, frame: OutgoingFrame, rid: str, expected: type[ReplyT]) -> ReplyT:
        """Send ``frame`` and return its reply, which must be an ``expected``."""
        future = self._router.expect(rid)
        try:
            await self._send(frame)
            async with asyncio.timeout(self._request_timeout):
                outcome: Reply | ClientError = await future
        except TimeoutError:
            raise ClientError(
                CLIENT_TIMEOUT,
                f"no reply to {_kind(frame)} within {self._request_timeout:g} s",
                request_id=rid,
            ) from None
        finally:
            self._router.forget(rid)
        if isinstance(outcome, ClientError):
            raise outcome
        if not isinstance(outcome, expected):
            raise ClientError(
                PROTOCOL_ERROR,
                f"{_kind(frame)} was answered by {type(outcome).__name__}",
                request_id=rid,
            )
        return outcome

    async def _send(self, frame: OutgoingFrame) -> None:
        closed = self._router.closed
        if closed is not None:
            raise closed
        try:
            await self._ws.send_str(encode_frame(frame))
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            raise ClientError(CONNECTION_CLOSED, f"could not send {_kind(frame)}: {exc}") from None


def _record(vector: VectorRecord | Mapping[str, Any]) -> VectorRecord:
    if isinstance(vector, VectorRecord):
        return vector
    try:
        return msgspec.convert(dict(vector), type=VectorRecord)
    except msgspec.ValidationError as exc:
        raise ValueError(f"not a vector record: {exc}") from None


def _kind(frame: OutgoingFrame) -> str:
    return str(type(frame).__struct_config__.tag)
