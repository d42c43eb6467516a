"""``s5vec search``: open a session on a host, follow the database load, run one search."""

from __future__ import annotations

import asyncio
import math
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import msgspec
import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from s5vec.client.connection import DEFAULT_URL, S5VecClient
from s5vec.client.failures import CLIENT_TIMEOUT, ClientError
from s5vec.client.frames import CHUNK_DOWNLOADED, LOADING_COMPLETE, SearchResponse
from s5vec.crypto.hexcodec import decode_hex
from s5vec.errors import S5VecError
from s5vec.formats.paths import validate_manifest_path

DEFAULT_CHAIN_ID = 84532
DEFAULT_LOAD_TIMEOUT_S = 300.0
KEY_SIZE = 32


class UsageError(Exception):
    """A bad option value, reported as one line before anything is sent."""


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """Everything ``search_command`` sends, parsed and checked."""

    url: str
    manifest_path: str
    user_address: str
    query: list[float]
    k: int
    threshold: float | None
    metadata_filter: dict[str, Any] | None
    session_key: bytes | None
    signer_key: bytes | None
    chain_id: int
    job_id: str | None
    load_timeout: float


def search_command(
    manifest_path: Annotated[
        str,
        typer.Option(help="home/vector-databases/<0x address>/<name>/manifest.json"),
    ],
    url: Annotated[str, typer.Option(help="The host's WebSocket URL")] = DEFAULT_URL,
    user_address: Annotated[
        str | None,
        typer.Option(help="Database owner (0x + 40 hex); default: the address in the path"),
    ] = None,
    query: Annotated[
        str | None,
        typer.Option(help="Query vector: a JSON list of floats, or @file.json holding one"),
    ] = None,
    query_npy: Annotated[
        Path | None, typer.Option(help=".npy file of query vectors (use with --row)")
    ] = None,
    row: Annotated[int, typer.Option(help="Row of --query-npy to search with")] = 0,
    k: Annotated[int, typer.Option(help="Number of results, 1-100")] = 5,
    threshold: Annotated[float | None, typer.Option(help="Minimum cosine score, -1 to 1")] = None,
    filter_json: Annotated[
        str | None,
        typer.Option("--filter", help='Metadata filter as JSON, e.g. {"lang": {"$eq": "en"}}'),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(help="Session key (64 hex) of an encrypted database; needs --signer-key"),
    ] = None,
    signer_key: Annotated[
        str | None,
        typer.Option(help="Database owner's private key (64 hex): signs the encrypted init"),
    ] = None,
    chain_id: Annotated[int, typer.Option(help="Chain id sent with the init")] = DEFAULT_CHAIN_ID,
    job_id: Annotated[str | None, typer.Option(help="Job id sent with the init")] = None,
    load_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the database to load")
    ] = DEFAULT_LOAD_TIMEOUT_S,
    json_output: Annotated[bool, typer.Option("--json", help="Print the results as JSON")] = False,
) -> None:
    """Load a vector database on a host and print the nearest vectors to a query."""
    err_console = Console(stderr=True)
    try:
        request = SearchRequest(
            url=url,
            manifest_path=manifest_path,
            user_address=user_address or _address_of(manifest_path),
            query=_parse_query(query, query_npy, row),
            k=k,
            threshold=threshold,
            metadata_filter=_parse_filter(filter_json),
            session_key=_parse_key(key, "--key"),
            signer_key=_parse_key(signer_key, "--signer-key"),
            chain_id=chain_id,
            job_id=job_id,
            load_timeout=load_timeout,
        )
        if request.session_key is not None and request.signer_key is None:
            raise UsageError("--key needs --signer-key: the database owner signs the init")
        if request.signer_key is not None and request.session_key is None:
            raise UsageError("--signer-key is only used with --key (encrypted init)")
        response = asyncio.run(run_search(request, err_console))
    except (ClientError, UsageError) as exc:
        _fail(err_console, str(exc))
    if json_output:
        sys.stdout.write(results_json(response) + "\n")
    else:
        Console().print(results_table(response))


async def run_search(request: SearchRequest, err_console: Console) -> SearchResponse:
    """Connect, init (encrypted when a session key is given), follow the load, search."""
    session_id = f"cli-{uuid.uuid4().hex[:12]}"
    database = (request.manifest_path, request.user_address)
    async with S5VecClient.connect(request.url) as client:
        if request.session_key is not None and request.signer_key is not None:
            await client.init_encrypted_session(
                session_id,
                request.signer_key,
                request.session_key,
                chain_id=request.chain_id,
                job_id=request.job_id,
                vector_database=database,
            )
        else:
            await client.init_session(
                session_id,
                job_id=request.job_id,
                chain_id=request.chain_id,
                vector_database=database,
            )
        await _follow_load(client, request.load_timeout, err_console)
        loaded = await client.wait_loaded()
        err_console.print(f"Loaded {loaded.vector_count} vectors in {loaded.duration_ms} ms")
        return await client.search(
            request.query, request.k, request.threshold, request.metadata_filter
        )


async def _follow_load(client: S5VecClient, seconds: float, err_console: Console) -> None:
    columns = (
        TextColumn("Loading database"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console) as bar:
        task = bar.add_task("load", total=100)
        try:
            async with asyncio.timeout(seconds):
                async for event in client.progress():
                    if event.event == CHUNK_DOWNLOADED and event.percent is not None:
                        bar.update(task, completed=event.percent)
                    elif event.event == LOADING_COMPLETE:
                        bar.update(task, completed=100)
        except TimeoutError:
            raise ClientError(
                CLIENT_TIMEOUT, f"the database did not load within {seconds:g} s"
            ) from None


def results_table(response: SearchResponse) -> Table:
    """The hits as a rich table: rank, id, score, metadata."""
    caption = f"{len(response.results)} results"
    if response.total_vectors is not None:
        caption += f" from {response.total_vectors} vectors"
    if response.search_time_ms is not None:
        caption += f" in {response.search_time_ms:.2f} ms"
    table = Table(caption=caption)
    table.add_column("#", justify="right")
    table.add_column("id", overflow="fold")
    table.add_column("score", justify="right")
    table.add_column("metadata", overflow="fold")
    for rank, hit in enumerate(response.results, 1):
        metadata = msgspec.json.encode(hit.metadata).decode() if hit.metadata else ""
        table.add_row(str(rank), str(hit.id), f"{hit.score:.4f}", metadata)
    return table


def results_json(response: SearchResponse) -> str:
    """The hits as one JSON object: ``results``, ``totalVectors``, ``searchTimeMs``."""
    body = {
        "results": msgspec.to_builtins(response.results),
        "totalVectors": response.total_vectors,
        "searchTimeMs": response.search_time_ms,
    }
    return msgspec.json.encode(body).decode()


def _parse_query(query: str | None, query_npy: Path | None, row: int) -> list[float]:
    if query_npy is not None and query is None:
        values = _npy_row(query_npy, row)
    elif query is not None and query_npy is None:
        text = _read_at_file(query) if query.startswith("@") else query
        try:
            values = msgspec.json.decode(text, type=list[float])
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise UsageError("--query must be a JSON list of numbers") from None
    else:
        raise UsageError("give exactly one of --query and --query-npy")
    if not values or not all(math.isfinite(value) for value in values):
        raise UsageError("the query vector must be non-empty with finite values")
    return values


def _read_at_file(spec: str) -> str:
    try:
        return Path(spec[1:]).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {spec[1:]}: {exc.strerror or exc}") from None


def _npy_row(path: Path, row: int) -> list[float]:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path} as .npy: {exc}") from None
    if array.ndim == 1 and row == 0:
        vector = array
    elif array.ndim == 2 and 0 <= row < array.shape[0]:
        vector = array[row]
    else:
        raise UsageError(f"{path} has shape {array.shape}: no row {row}")
    if not np.issubdtype(vector.dtype, np.number):
        raise UsageError(f"{path} does not hold numbers")
    return [float(value) for value in vector.astype(np.float64)]


def _parse_filter(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        return msgspec.json.decode(text, type=dict[str, Any])
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise UsageError("--filter must be a JSON object") from None


def _parse_key(text: str | None, option: str) -> bytes | None:
    if text is None:
        return None
    try:
        key = decode_hex(text.strip(), option)
    except S5VecError:
        key = b""
    if len(key) != KEY_SIZE:
        # Never echo the value: it is a secret.
        raise UsageError(f"{option} must be 64 hex digits (0x optional)")
    return key


def _address_of(manifest_path: str) -> str:
    try:
        return validate_manifest_path(manifest_path).address
    except S5VecError as exc:
        raise UsageError(f"{exc.code}: {exc.message}") from None


def _fail(err_console: Console, message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)
