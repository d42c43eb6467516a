"""The ``s5vec`` command line: publish and inspect databases, run the dev store."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from s5vec.client.cli_search import search_command
from s5vec.crypto.hexcodec import decode_hex
from s5vec.devstore import serve as serve_store
from s5vec.errors import S5VecError
from s5vec.formats import Format
from s5vec.storage.base import Storage
from s5vec.storage.bridge import BridgeStorage
from s5vec.storage.local import LocalStorage
from s5vec.tools.config_table import config_table_command
from s5vec.tools.inspect_db import inspect_database
from s5vec.tools.publish import DEFAULT_CHUNK_SIZE, PublishOptions, publish
from s5vec.tools.sources import SourceError, open_source

app = typer.Typer(help="s5vec: retrieval over vector databases kept in S5 storage.")
store_app = typer.Typer(help="The local S5-compatible dev store.")
app.add_typer(store_app, name="store")

err_console = Console(stderr=True)
T = TypeVar("T")

DEFAULT_STORE = "./data/s5"
STORE_TIMEOUT_S = 30.0
STORE_RETRIES = 3


def fail(message: str) -> NoReturn:
    """Print one clear line to stderr and exit non-zero."""
    # Messages quote file names, which may hold "[...]": never read them as rich markup.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def parse_key(text: str | None) -> bytes | None:
    """A 32-byte AES key from 64 hex digits (``0x`` optional)."""
    if text is None:
        return None
    try:
        key = decode_hex(text, "key")
    except S5VecError:
        fail("the key must be 64 hex digits (0x optional)")
    if len(key) != 32:
        fail("the key must be 64 hex digits (0x optional)")
    return key


def open_store(spec: str, *, create: bool = True) -> Storage:
    """A bridge backend for an ``http(s)://`` URL, else a local store directory."""
    if spec.startswith(("http://", "https://")):
        return BridgeStorage(spec, timeout_s=STORE_TIMEOUT_S, retries=STORE_RETRIES)
    return LocalStorage(Path(spec), create=create)


def run_with_store(spec: str, work: Callable[[Storage], Awaitable[T]], *, create: bool = True) -> T:
    """Run ``work`` against the store, turning known failures into one-line errors."""

    async def main() -> T:
        storage = open_store(spec, create=create)
        try:
            return await work(storage)
        finally:
            await storage.close()

    try:
        return asyncio.run(main())
    except S5VecError as exc:
        fail(f"{exc.code}: {exc.message}")
    except (SourceError, OSError) as exc:
        fail(str(exc))


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr; yields an ``(done, total)`` updater."""
    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


@app.command("publish")
def publish_command(
    source: Annotated[
        Path, typer.Argument(help=".npy array (n, d) or .jsonl of {id, vector, metadata}")
    ],
    owner: Annotated[str, typer.Option(help="Owner address, 0x + 40 hex")],
    name: Annotated[str, typer.Option(help="Database name")],
    store: Annotated[str, typer.Option(help="Local store directory or bridge URL")] = DEFAULT_STORE,
    metadata: Annotated[
        Path | None, typer.Option(help=".jsonl with one metadata object per .npy row")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="cbor (as s5.js writes) or json")] = "cbor",
    encrypt_key: Annotated[
        str | None, typer.Option(help="AES-256-GCM key, 64 hex digits: encrypt every file")
    ] = None,
    chunk_size: Annotated[int, typer.Option(help="Vectors per chunk file")] = DEFAULT_CHUNK_SIZE,
    description: Annotated[str | None, typer.Option(help="Manifest description")] = None,
) -> None:
    """Publish vectors as a database (manifest + chunk files); print the manifest path."""
    if fmt not in ("cbor", "json"):
        fail("--format must be cbor or json")
    file_format: Format = "cbor" if fmt == "cbor" else "json"
    try:
        vectors = open_source(source, metadata)
        options = PublishOptions(
            owner, name, file_format, parse_key(encrypt_key), chunk_size, description
        )
        options.manifest_path  # noqa: B018 - validates owner and name before any write
    except SourceError as exc:
        fail(str(exc))
    except S5VecError as exc:
        fail(f"{exc.code}: {exc.message}")
    with progress_bar("Publishing") as update:
        result = run_with_store(store, lambda storage: publish(vectors, storage, options, update))
    err_console.print(
        f"Published {result.vector_count} vectors in {result.chunk_count} chunks "
        f"({result.bytes_written / 1e6:.1f} MB)"
    )
    print(result.manifest_path)


@app.command("inspect")
def inspect_command(
    manifest_path: Annotated[
        str, typer.Argument(help="home/vector-databases/<0x..>/<name>/manifest.json")
    ],
    store: Annotated[str, typer.Option(help="Local store directory or bridge URL")] = DEFAULT_STORE,
    key: Annotated[
        str | None, typer.Option(help="AES-256-GCM key (64 hex) for encrypted files")
    ] = None,
) -> None:
    """Print the manifest summary and validate every chunk it lists."""
    session_key = parse_key(key)
    with progress_bar("Validating chunks") as update:
        report = run_with_store(
            store,
            lambda storage: inspect_database(storage, manifest_path, session_key, update),
            create=False,  # reading must not leave a directory behind for a mistyped --store
        )
    manifest = report.decoded.manifest
    table = Table(title=escape(manifest_path), show_header=False)
    for field, value in (
        ("name", manifest.name),
        ("owner", manifest.owner),
        ("description", manifest.description or ""),
        ("dimensions", str(report.dimensions)),
        ("vectors", str(report.vector_count)),
        ("chunks", str(manifest.chunk_count)),
        (
            "manifest",
            f"{report.decoded.format}, {'encrypted' if report.decoded.encrypted else 'plaintext'}",
        ),
        ("encrypted chunks", f"{report.encrypted_chunks}/{manifest.chunk_count}"),
        ("deleted", str(manifest.deleted)),
    ):
        table.add_row(field, escape(value))  # names come from the file: not rich markup
    Console().print(table)
    print(f"OK: {report.vector_count} vectors in {manifest.chunk_count} chunks validated")


@store_app.command("serve")
def store_serve_command(
    directory: Annotated[Path, typer.Option("--dir", help="Directory to serve")] = Path(
        DEFAULT_STORE
    ),
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 5522,
) -> None:
    """Serve a directory as a local S5-compatible HTTP store (a dev server)."""
    err_console.print(
        f"s5vec dev store serving {escape(str(directory))} on http://{host}:{port} (Ctrl-C stops)"
    )
    try:
        asyncio.run(serve_store(directory, host, port))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}")
    except S5VecError as exc:  # e.g. --dir names a file
        fail(f"cannot serve {directory}: {exc.message}")


app.command("search")(search_command)
app.command("config-table")(config_table_command)


@app.command("serve")
def serve_command() -> None:
    """Run the host service in the foreground until SIGINT or SIGTERM (configured by env)."""
    # Imported here so the other commands do not pay for loading the server stack.
    from s5vec.server.command import serve_command as run_server

    run_server()


def main() -> None:
    """Entry point of the ``s5vec`` console script."""
    sys.exit(app())
