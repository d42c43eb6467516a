"""docs/architecture.md: the example storage backend, run as written against a real HTTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from s5vec.errors import NotFound, PermanentStorageError
from s5vec.storage.base import Storage
from s5vec.storage.local import LocalStorage
from s5vec.tools.inspect_db import inspect_database
from s5vec.tools.publish import PublishOptions, publish
from s5vec.tools.sources import open_source
from tests.docs.host import OWNER, PLAIN_DB, SAMPLE, manifest_path
from tests.docs.markdown import REPO, marked_blocks, read

BLOCK = marked_blocks(read("docs/architecture.md"), "arch")["static-backend"]


def backend_class() -> type[Storage]:
    """The documented class, defined by executing the documented code."""
    namespace: dict[str, Any] = {"__name__": "architecture_example"}
    exec(compile(BLOCK.text, "docs/architecture.md", "exec"), namespace)
    cls: type[Storage] = namespace["StaticHttpStorage"]
    return cls


@pytest.fixture
async def mirror(tmp_path: Path) -> AsyncIterator[str]:
    """A static file server (aiohttp) over a directory holding the published sample."""
    store = LocalStorage(tmp_path)
    await publish(open_source(SAMPLE), store, PublishOptions(OWNER, PLAIN_DB, chunk_size=4))
    await store.close()
    app = web.Application()
    app.router.add_static("/mirror", tmp_path)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/mirror"
    finally:
        await runner.cleanup()


async def test_example_backend_reads_a_published_database(mirror: str, tmp_path: Path) -> None:
    storage = backend_class()(mirror, timeout_s=10, retries=1)
    try:
        path = manifest_path(PLAIN_DB)
        assert await storage.get(path) == (tmp_path / path).read_bytes()
        assert await storage.exists(path)
        report = await inspect_database(storage, path, None, None)
        assert report.vector_count == 12
        assert (await storage.health())["healthy"] is True
    finally:
        await storage.close()


async def test_example_backend_keeps_the_storage_contract(mirror: str) -> None:
    storage = backend_class()(mirror, timeout_s=10, retries=1)
    try:
        with pytest.raises(NotFound):
            await storage.get("home/vector-databases/missing/manifest.json")
        assert not await storage.exists("home/missing.json")
        for bad in ("../secret", "home//x", "/etc/passwd", "a/./b"):
            with pytest.raises(PermanentStorageError):
                await storage.get(bad)
        with pytest.raises(PermanentStorageError):
            await storage.put("home/x.json", b"{}")
        assert storage.remote
    finally:
        await storage.close()


async def test_example_backend_reports_an_unreachable_server_unhealthy(free_port: int) -> None:
    storage = backend_class()(f"http://127.0.0.1:{free_port}", timeout_s=5, retries=0)
    try:
        health = await storage.health()
        assert health["healthy"] is False
        assert health["backend"] == "static"
    finally:
        await storage.close()


def test_layer_table_names_every_package() -> None:
    src = REPO / "src" / "s5vec"
    packages = {path.name for path in src.iterdir() if (path / "__init__.py").exists()}
    modules = {path.name for path in src.glob("*.py") if path.name != "__init__.py"}
    table = read("docs/architecture.md").split("## Layers", 1)[1].split("###", 1)[0]
    for name in sorted(packages):
        assert f"`{name}/`" in table, f"docs/architecture.md's layer table misses {name}/"
    for name in sorted(modules):
        assert f"`{name}`" in table, f"docs/architecture.md's layer table misses {name}"
