"""Publish, then read back with ``inspect_database`` and ``decode_chunk``: nothing changes.

Random shapes, chunk sizes, metadata, both formats, with and without encryption, from .npy
(+ metadata .jsonl) and from .jsonl, into a local directory and into the dev store over HTTP.
"""

from __future__ import annotations

import math
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s5vec.formats import Format, decode_chunk
from s5vec.formats.paths import chunk_path
from s5vec.storage.base import Storage
from s5vec.storage.bridge import BridgeStorage
from s5vec.storage.local import LocalStorage
from s5vec.tools.inspect_db import inspect_database
from s5vec.tools.publish import PublishOptions, publish
from s5vec.tools.sources import open_source
from tests.tools.inputs import KEY, OWNER, Dataset, datasets, write_jsonl, write_lines, write_npy


@pytest.fixture(params=["local", "bridge"])
async def storage(
    request: pytest.FixtureRequest, tmp_path: Path, dev_store: str
) -> AsyncIterator[Storage]:
    """A local directory, or the dev store over HTTP."""
    backend: Storage
    if request.param == "local":
        backend = LocalStorage(tmp_path / "store")
    else:
        backend = BridgeStorage(dev_store, timeout_s=10, retries=0)
    try:
        yield backend
    finally:
        await backend.close()


def _source_file(directory: Path, data: Dataset, kind: str) -> tuple[Path, Path | None]:
    """Write ``data`` as the input ``kind`` names; return the vectors file and metadata file."""
    if kind == "jsonl":
        return write_jsonl(directory / "vectors.jsonl", data), None
    vectors = write_npy(directory / "vectors.npy", data.vectors)
    if kind == "npy+metadata":
        return vectors, write_lines(directory / "metadata.jsonl", data.metadata)
    return vectors, None


def _expected(data: Dataset, kind: str, fmt: Format) -> tuple[list[str], np.ndarray, list[object]]:
    ids = [str(i) for i in data.ids] if kind == "jsonl" else [str(i) for i in range(len(data.ids))]
    metadata: list[object] = list(data.metadata) if kind != "npy" else [{}] * len(data.ids)
    # s5.js (cbor-x) writes -0 as the integer 0, and so do we: CBOR keeps every bit but that sign.
    vectors = data.vectors + np.float32(0) if fmt == "cbor" else data.vectors
    return ids, vectors, metadata


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=datasets(),
    kind=st.sampled_from(["npy", "npy+metadata", "jsonl"]),
    fmt=st.sampled_from(["cbor", "json"]),
    key=st.sampled_from([None, KEY]),
    chunk_size=st.integers(1, 60),
    description=st.none() | st.text(max_size=20),
)
async def test_publish_then_read_back(
    storage: Storage,
    data: Dataset,
    kind: str,
    fmt: Format,
    key: bytes | None,
    chunk_size: int,
    description: str | None,
) -> None:
    name = f"db-{uuid.uuid4().hex[:12]}"  # one database per example in the shared store
    with tempfile.TemporaryDirectory() as scratch:
        vectors_file, metadata_file = _source_file(Path(scratch), data, kind)
        options = PublishOptions(OWNER, name, fmt, key, chunk_size, description)
        result = await publish(open_source(vectors_file, metadata_file), storage, options)
    n, d = data.vectors.shape
    chunks = math.ceil(n / chunk_size)
    assert result.manifest_path == f"home/vector-databases/{OWNER}/{name}/manifest.json"
    assert (result.vector_count, result.chunk_count) == (n, chunks)

    report = await inspect_database(storage, result.manifest_path, key)
    manifest = report.decoded.manifest
    assert (report.vector_count, report.dimensions, report.encrypted_chunks) == (
        n,
        d,
        chunks if key else 0,
    )
    assert (report.decoded.format, report.decoded.encrypted) == (fmt, key is not None)
    assert (manifest.owner, manifest.name, manifest.description) == (OWNER, name, description)
    assert (manifest.dimensions, manifest.vector_count, manifest.chunk_count) == (d, n, chunks)
    assert [e.chunk_id for e in manifest.chunks] == list(range(chunks))
    assert [e.cid for e in manifest.chunks] == [
        chunk_path(result.manifest_path, i) for i in range(chunks)
    ]
    assert [e.vector_count for e in manifest.chunks] == [
        min(chunk_size, n - i * chunk_size) for i in range(chunks)
    ]

    ids: list[str] = []
    rows: list[np.ndarray] = []
    metadata: list[object] = []
    for entry in manifest.chunks:
        stored = await storage.get(entry.cid)
        assert entry.size_bytes == len(stored)
        chunk = decode_chunk(stored, key, entry, manifest.dimensions)
        assert chunk.encrypted == (key is not None)
        ids += chunk.ids
        rows.append(chunk.vectors)
        metadata += chunk.metadata
    assert manifest.storage_size_bytes == sum(e.size_bytes for e in manifest.chunks)
    want_ids, want_vectors, want_metadata = _expected(data, kind, fmt)
    got = np.concatenate(rows)
    assert got.dtype == np.float32
    assert got.tobytes() == want_vectors.tobytes()  # bit for bit
    assert ids == want_ids
    assert metadata == want_metadata
