"""``s5vec store serve --dir D`` serves what ``s5vec publish --store D`` wrote (same layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from s5vec.devstore import start
from s5vec.formats import decode_chunk, decode_manifest
from s5vec.formats.cid import cid_for_bytes, format_cid
from s5vec.formats.paths import chunk_path
from s5vec.storage.bridge import BridgeStorage
from s5vec.storage.local import LocalStorage
from s5vec.storage.portal import PortalBlobReader
from s5vec.tools.publish import PublishOptions, publish
from s5vec.tools.sources import open_source

OWNER = "0x" + "ab" * 20


async def test_a_directory_published_locally_is_served_over_http(tmp_path: Path) -> None:
    rows = np.arange(5 * 3, dtype=np.float32).reshape(5, 3) / 7
    np.save(tmp_path / "rows.npy", rows)
    root = tmp_path / "s5"
    local = LocalStorage(root)
    result = await publish(
        open_source(tmp_path / "rows.npy"), local, PublishOptions(OWNER, "docs", chunk_size=2)
    )
    store = await start(root)
    bridge = BridgeStorage(store.url, timeout_s=10, retries=0)
    portal = PortalBlobReader([store.url], timeout_s=10, retries=0)
    try:
        manifest_bytes = await bridge.get(result.manifest_path)
        assert manifest_bytes == await local.get(result.manifest_path)
        manifest = decode_manifest(manifest_bytes, None).manifest
        assert manifest.chunk_count == 3
        entry = manifest.chunks[1]
        stored = await local.get(chunk_path(result.manifest_path, 1))
        served = await portal.get_blob(format_cid(cid_for_bytes(stored)))
        assert served == stored
        chunk = decode_chunk(served, None, entry, manifest.dimensions)
        assert chunk.ids == ["2", "3"]
        assert np.array_equal(chunk.vectors, rows[2:4])
    finally:
        await portal.close()
        await bridge.close()
        await store.stop()
