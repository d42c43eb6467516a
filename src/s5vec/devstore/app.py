"""The dev store's aiohttp application: the bridge API plus content-addressed blobs.

Layout: the ``local`` backend's, so ``s5vec store serve --dir D`` serves what
``s5vec publish --store D`` wrote: the file for S5 path ``P`` is ``root/P``. Blobs posted
without a path (``POST /s5/blob``) are kept in ``root/.s5vec-blobs/<hex BLAKE3 hash>``; every
``.s5vec-*`` name is reserved by the path rules, so no ``/s5/fs/`` URL can reach or list it.

``GET /s5/blob/<cid>`` serves any file under the root by content, through a ``BlobIndex``
(hash to path, built at startup, kept on ``PUT``, refreshed on a miss), or a posted blob.
Bytes are served as stored: clients verify them against the CID.

Routes (see ``s5vec.storage.bridge`` for the client side):
``GET|HEAD|PUT|DELETE /s5/fs/<path>``, ``GET /s5/fs/<dir>/`` (listing
``{"entries": [...]}``), ``GET /s5/blob/<cid>``, ``POST /s5/blob`` (raw body),
``GET /health``. ``PUT`` and ``POST`` answer 201 ``{"cid": "b..."}``. Errors answer JSON
``{"error": "..."}`` with 404 (absent), 400 (refused path or request) or 503.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web

from s5vec.devstore.blobindex import BlobIndex
from s5vec.errors import NotFound, PermanentStorageError, RetryableStorageError, StorageError
from s5vec.formats.cid import CidError, cid_for_bytes, format_cid, parse_cid
from s5vec.storage.local import LocalStorage
from s5vec.storage.paths import RESERVED_PREFIX

FS_PREFIX = "/s5/fs/"
BLOB_DIR = RESERVED_PREFIX + "blobs"
DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024
"""Largest upload accepted; chunk files run to tens of MB."""


@dataclass(frozen=True)
class DevStore:
    """The files by path, the posted blobs by hash, and the index from hash to path."""

    files: LocalStorage
    blobs: LocalStorage
    index: BlobIndex

    async def put_file(self, path: str, data: bytes) -> str:
        """Store ``data`` at ``path``, index it by BLAKE3 hash and return its base32 CID."""
        cid = await asyncio.to_thread(cid_for_bytes, data)
        await self.files.put(path, data)
        self.index.record(path, cid.hash)
        return format_cid(cid)

    async def post_blob(self, data: bytes) -> str:
        """Record ``data`` under its BLAKE3 hash and return its base32 CID."""
        cid = await asyncio.to_thread(cid_for_bytes, data)
        await self.blobs.put(cid.hash.hex(), data)
        return format_cid(cid)

    async def get_blob(self, digest: bytes) -> bytes:
        """The bytes of a file or posted blob with this hash; ``NotFound`` if none."""
        data = await self._find(digest)
        if data is None:
            await self.index.refresh()
            data = await self._find(digest)
        if data is None:
            raise NotFound()
        return data

    async def _find(self, digest: bytes) -> bytes | None:
        path = self.index.path_for(digest)
        for storage, name in ((self.files, path), (self.blobs, digest.hex())):
            if name is None:
                continue
            try:
                return await storage.get(name)
            except (NotFound, PermanentStorageError):
                continue  # gone, or now a directory or a symlink out of the root
        return None


STORE_KEY = web.AppKey("store", DevStore)


def _error(exc: StorageError) -> web.Response:
    if isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, RetryableStorageError):
        status = 503
    else:
        status = 400
    return web.json_response({"error": exc.message}, status=status)


def _fs_path(request: web.Request) -> str:
    """The S5 path of an ``/s5/fs/`` request, decoded one segment at a time.

    Decoding the raw path per segment keeps ``%2F`` from becoming a separator; ``%2e%2e``
    decodes to ``..`` and is then refused by the path rules like a literal ``..``.
    """
    raw = request.rel_url.raw_path[len(FS_PREFIX) :]
    segments = []
    for raw_segment in raw.split("/"):
        try:
            segment = unquote(raw_segment, errors="strict")
        except UnicodeDecodeError:
            raise PermanentStorageError("Path is not valid UTF-8") from None
        if "/" in segment:
            raise PermanentStorageError("Path segment holds an encoded '/'")
        segments.append(segment)
    return "/".join(segments)


async def handle_fs(request: web.Request) -> web.StreamResponse:
    """``/s5/fs/<path>``: read, test, write, delete or list by S5 path."""
    store = request.app[STORE_KEY]
    try:
        path = _fs_path(request)
        is_dir = path == "" or path.endswith("/")
        if request.method == "GET" and is_dir:
            return web.json_response({"entries": await store.files.list(path)})
        if is_dir:
            raise PermanentStorageError("Only GET applies to a directory")
        if request.method == "GET":
            data = await store.files.get(path)
            return web.Response(body=data, content_type="application/octet-stream")
        if request.method == "HEAD":
            return web.Response(status=200 if await store.files.exists(path) else 404)
        if request.method == "PUT":
            cid = await store.put_file(path, await request.read())
            return web.json_response({"cid": cid}, status=201)
        if request.method == "DELETE":
            await store.files.delete(path)
            return web.Response(status=204)
    except StorageError as exc:
        return _error(exc)
    raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD", "PUT", "DELETE"])


async def handle_get_blob(request: web.Request) -> web.StreamResponse:
    """``GET /s5/blob/<cid>``: the stored bytes, served as stored (clients verify)."""
    store = request.app[STORE_KEY]
    try:
        cid = parse_cid(request.match_info["cid"])
    except CidError:
        return web.json_response({"error": "Not an S5 blob CID"}, status=400)
    try:
        data = await store.get_blob(cid.hash)
    except StorageError as exc:
        return _error(exc)
    return web.Response(body=data, content_type="application/octet-stream")


async def handle_post_blob(request: web.Request) -> web.StreamResponse:
    """``POST /s5/blob``: store the raw body by content and return its CID."""
    store = request.app[STORE_KEY]
    try:
        cid = await store.post_blob(await request.read())
    except StorageError as exc:
        return _error(exc)
    return web.json_response({"cid": cid}, status=201)


async def handle_health(request: web.Request) -> web.StreamResponse:
    """``GET /health``: 200 while the root and the blob directory are writable, else 503."""
    store = request.app[STORE_KEY]
    files, blobs = await store.files.health(), await store.blobs.health()
    healthy = bool(files["healthy"] and blobs["healthy"])
    body = {"status": "healthy" if healthy else "unhealthy", "service": "s5vec-devstore"}
    return web.json_response(body, status=200 if healthy else 503)


async def _build_index(app: web.Application) -> None:
    await app[STORE_KEY].index.refresh()


def create_app(root: Path, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> web.Application:
    """The dev store over directory ``root`` (created if missing): a dev server, not S5.

    Starting the app hashes every file under ``root`` once (``BlobIndex``).
    """
    files = LocalStorage(Path(root))
    store = DevStore(files, LocalStorage(files.root / BLOB_DIR), BlobIndex(files.root))
    app = web.Application(client_max_size=max_body_bytes)
    app[STORE_KEY] = store
    app.on_startup.append(_build_index)
    app.router.add_route("*", FS_PREFIX + "{tail:.*}", handle_fs)
    app.router.add_get("/s5/blob/{cid}", handle_get_blob, allow_head=False)
    app.router.add_post("/s5/blob", handle_post_blob)
    app.router.add_get("/health", handle_health)
    return app
