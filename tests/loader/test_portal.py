"""Chunks whose ``cid`` is a real S5 blob CID come from the portal, else from their path."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from s5vec.formats.cid import cid_for_bytes, format_cid
from s5vec.formats.paths import chunk_path
from s5vec.loader import LoadRequest
from s5vec.storage.bridge import BridgeStorage
from s5vec.storage.portal import PortalBlobReader
from tests.loader.conftest import LoaderMaker
from tests.loader.dbs import OWNER, chunk_paths, database, db_path, manifest_file, write
from tests.loader.fakes import CountingStorage, Events, RecordingObserver

PATH = db_path()
COUNTS = (4, 3, 5)


@pytest.fixture
async def bridge(dev_store: str) -> AsyncIterator[CountingStorage]:
    """The dev store through the bridge backend, counting GETs."""
    storage = CountingStorage(BridgeStorage(dev_store, timeout_s=5.0, retries=0))
    try:
        yield storage
    finally:
        await storage.close()


@pytest.fixture
async def portal(dev_store: str) -> AsyncIterator[PortalBlobReader]:
    """The dev store's content-addressed blob endpoint."""
    reader = PortalBlobReader([dev_store], timeout_s=5.0, retries=0)
    try:
        yield reader
    finally:
        await reader.close()


async def test_chunks_with_blob_cids_come_from_the_portal(
    bridge: CountingStorage, portal: PortalBlobReader, new_loader: LoaderMaker
) -> None:
    files = database(COUNTS)
    cids = {index: format_cid(cid_for_bytes(files[chunk_path(PATH, index)])) for index in range(3)}
    files[PATH] = manifest_file(COUNTS, 8, cids=cids)
    await write(bridge, files)
    events = Events()
    handle = await new_loader(bridge, portal=portal).load(LoadRequest(PATH, OWNER), events)
    assert handle.vector_count == 12
    assert all(bridge.gets[path] == 0 for path in chunk_paths(files))


async def test_portal_failure_falls_back_to_the_chunk_path(
    bridge: CountingStorage,
    portal: PortalBlobReader,
    new_loader: LoaderMaker,
    observer: RecordingObserver,
) -> None:
    files = database(COUNTS)
    # A well-formed CID of bytes nobody stored: every portal answers 404.
    cids = {1: format_cid(cid_for_bytes(b"not stored anywhere"))}
    files[PATH] = manifest_file(COUNTS, 8, cids=cids)
    await write(bridge, files)
    handle = await new_loader(bridge, portal=portal).load(LoadRequest(PATH, OWNER), Events())
    assert handle.vector_count == 12
    assert all(bridge.gets[path] == 1 for path in chunk_paths(files))
    assert observer.downloads.count("NOT_FOUND") == 1  # the portal was asked first


async def test_path_cids_never_touch_the_portal(
    bridge: CountingStorage, new_loader: LoaderMaker
) -> None:
    files = database(COUNTS)
    await write(bridge, files)
    unreachable = PortalBlobReader(["http://127.0.0.1:9"], timeout_s=1.0, retries=0)
    try:
        handle = await new_loader(bridge, portal=unreachable).load(
            LoadRequest(PATH, OWNER), Events()
        )
    finally:
        await unreachable.close()
    assert handle.vector_count == 12
