"""A built :class:`DatabaseIndex` as one image file, and the index again from it, mapped.

The image's sections (framed as ``image`` describes), in this order:

- ``vectors``: the full-precision unit rows (float32), only when RAM holds quantised codes.
  It comes first, at offset 0, so the image file itself is the restored store's re-scoring
  file (read with pread, as a spill file is). An image written inside an encrypted file
  leaves them out: the file seals them row by row beside it (``RowSource``), so a restore
  decrypts 40% of the bytes; the restored store opens just the rows it re-scores, until a
  background thread has copied them all, opened, into a spill file.
- ``codes``: the rows as RAM holds them (i8, f16 or f32).
- ``id_offsets``, ``ids``, ``meta_offsets``, ``meta``: the packed records.
- ``graph``: the HNSW graph as usearch saves it (with usearch's own copy of the codes).

Opening checks the trailer, the header and every section's BLAKE3 (a damaged graph could
crash usearch), then maps the file: the codes and the graph are views of the mapping (pages
come in on first use and stay reclaimable page cache), ids and metadata are copied (a few MB
per 100K rows). Anything wrong raises :class:`UnusableImage`: the caller treats it as a miss.

This is the index package's serialiser, the one module that reads and assembles the private
parts of ``DatabaseIndex``, ``VectorStore``, ``Records`` and ``Graph``.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
from usearch.index import Index

from s5vec.errors import VectorsNotLoaded
from s5vec.index.config import IndexConfig, Quantization
from s5vec.index.database import DatabaseIndex
from s5vec.index.filters import FilterMatcher
from s5vec.index.graph import Graph, GraphBuild, OnBuilt
from s5vec.index.image import (
    ALIGN,
    BLOCK,
    RAM_DTYPES,
    VERSION,
    Header,
    ImageWriter,
    Section,
    Sink,
    UnusableImage,
    check_digests,
    file_blocks,
    offsets_dtype,
    read_header,
)
from s5vec.index.records import Records
from s5vec.index.sealed_store import COPY_BLOCK_ROWS, RowSource, SealedRowsStore
from s5vec.index.store import VectorStore


@dataclass(slots=True)
class Snapshot:
    """Everything an image is written from, held by reference (and a duplicated descriptor
    of the spill file), so the index may close while the image is written."""

    dimensions: int | None
    quantization: Quantization
    ram: npt.NDArray[Any] | None
    spill_fd: int | None
    spill_source: RowSource | None
    """How the spill file holds its rows: None for plain float32 from offset 0."""
    records: Records
    graph: Graph | None
    connectivity: int
    expansion_add: int

    @property
    def rows(self) -> int:
        """Vectors in the index."""
        return len(self.records)

    def image_bytes(self) -> int:
        """About how large the image will be (sections, padding and header)."""
        rows, row_bytes = self.spilled
        total = self.records.nbytes() + 7 * ALIGN + rows * row_bytes
        if self.ram is not None:
            total += int(self.ram.nbytes)
        if self.graph is not None:
            total += int(self.graph._index.serialized_length)
        return total

    @property
    def spilled(self) -> tuple[int, int]:
        """Rows and bytes per row of the full-precision vectors beside the RAM codes."""
        if self.spill_fd is None or self.ram is None:
            return 0, 0
        return self.rows, int(self.ram.shape[1]) * 4

    def vector_blocks(self) -> Iterator[bytes | memoryview]:
        """The full-precision rows, in blocks (none without a spill file)."""
        rows, row_bytes = self.spilled
        if self.spill_fd is None or not rows:
            return
        if self.spill_source is None:
            yield from file_blocks(self.spill_fd, rows * row_bytes)
            return
        for start in range(0, self.rows, COPY_BLOCK_ROWS):
            stop = min(self.rows, start + COPY_BLOCK_ROWS)
            yield self.spill_source.read(self.spill_fd, range(start, stop))

    def release(self) -> None:
        """Close the duplicated spill descriptor (idempotent)."""
        fd, self.spill_fd = self.spill_fd, None
        if fd is not None:
            os.close(fd)


def graph_settled(index: DatabaseIndex) -> bool:
    """Whether no graph build is pending (built, failed, not needed, or the index closed)."""
    return index._graph_done.is_set()


def snapshot(index: DatabaseIndex) -> Snapshot | None:
    """Capture a ready index for writing; None while it is loading or once it is closed."""
    try:
        with index._readers.reading():
            records, store = index._records, index._store
            if index._state != "ready" or records is None:
                return None
            spill = store._spill if store is not None else None
            return Snapshot(
                dimensions=index.dimensions,
                quantization=index._config.quantization,
                ram=store.ram if store is not None else None,
                spill_fd=os.dup(spill.fileno()) if spill is not None else None,
                spill_source=store.source if isinstance(store, SealedRowsStore) else None,
                records=records,
                graph=index._graph,
                connectivity=index._config.connectivity,
                expansion_add=index._config.expansion_add,
            )
    except VectorsNotLoaded:
        return None


def write_image(
    snap: Snapshot, sink: Sink, entry: str, scratch_dir: Path, *, vectors: bool = True
) -> int:
    """Write ``snap`` as an image for ``entry`` to ``sink``; return the bytes written.

    ``vectors=False`` leaves the full-precision rows out (the caller stores them itself).
    ``scratch_dir`` briefly holds usearch's own save of the graph (usearch writes to a path).
    """
    writer = ImageWriter(sink)
    with contextlib.ExitStack() as stack:
        graph: IO[bytes] | None = None
        codes_in_graph = None
        if snap.graph is not None:
            graph = stack.enter_context(
                tempfile.NamedTemporaryFile(dir=scratch_dir, prefix=".", suffix=".graph.tmp")
            )
            snap.graph._index.save(graph.name)
            if snap.ram is not None:
                codes_in_graph = _codes_in_graph(graph.fileno(), snap.ram)
        if snap.ram is not None:
            if vectors and snap.spill_fd is not None:
                writer.section("vectors", snap.vector_blocks())
            if codes_in_graph is None:
                writer.section("codes", [np.ascontiguousarray(snap.ram).data.cast("B")])
        records = snap.records
        for name, blob in (
            ("id_offsets", records._id_offsets.tobytes()),
            ("ids", records._ids),
            ("meta_offsets", records._meta_offsets.tobytes()),
            ("meta", records._meta),
        ):
            writer.section(name, [blob])
        if graph is not None:
            writer.section("graph", file_blocks(graph.fileno(), os.fstat(graph.fileno()).st_size))
    return writer.finish(
        Header(
            version=VERSION,
            entry=entry,
            rows=snap.rows,
            dimensions=snap.dimensions,
            quantization=snap.quantization,
            id_offsets=offsets_dtype(records._id_offsets),
            meta_offsets=offsets_dtype(records._meta_offsets),
            connectivity=snap.connectivity,
            expansion_add=snap.expansion_add,
            sections=writer.sections,
            codes_in_graph=codes_in_graph,
        )
    )


_USEARCH_MATRIX = struct.Struct("<II")
"""How usearch's save begins: the vector count and bytes per vector, then the vectors."""


def _codes_in_graph(fd: int, ram: npt.NDArray[Any]) -> int | None:
    """Where usearch's save of the graph holds exactly the RAM codes, in row order, or None.

    A graph built on one thread (the default on two cores) stores its vectors in insertion
    order, which is row order: then the image keeps the codes once (38 MB per 100K x 384
    less to write, check, decrypt and hold). Compared byte for byte, so another usearch
    layout or a multi-threaded build's order only means the codes are written twice.
    """
    codes = np.ascontiguousarray(ram).data.cast("B")
    head = os.pread(fd, _USEARCH_MATRIX.size, 0)
    if len(head) != _USEARCH_MATRIX.size or _USEARCH_MATRIX.unpack(head) != (
        len(ram),
        ram.shape[1] * ram.itemsize,
    ):
        return None
    offset = _USEARCH_MATRIX.size
    for start, block in zip(
        range(0, len(codes), BLOCK), file_blocks(fd, len(codes), offset), strict=False
    ):
        if block != codes[start : start + len(block)]:
            return None
    return offset


# --- opening ------------------------------------------------------------------------------


def open_image(
    file: IO[bytes],
    config: IndexConfig,
    entry: str,
    *,
    authenticated: bool = False,
    sealed_rows: tuple[IO[bytes], RowSource] | None = None,
    on_graph_built: OnBuilt | None = None,
) -> DatabaseIndex:
    """The searchable index stored in ``file`` (read from offset 0), which it takes over.

    The index keeps ``file`` as its re-scoring file (closed with the index) or closes it.
    ``sealed_rows``: the image has no vectors section; its rows are in this file instead
    (also taken over). A graph that is absent, or was built with another connectivity or
    expansion, is built again in the background as after a load. ``authenticated``: the
    bytes were just decrypted with AES-GCM, so the sections' BLAKE3 need no second check.
    Raises UnusableImage (the files closed).
    """
    try:
        header, data_end = read_header(file.fileno(), entry, config)
        if not authenticated:
            check_digests(file.fileno(), header, data_end)
        if sealed_rows is not None:
            _check_rows(header, sealed_rows[1])
        return _assemble(file, header, data_end, config, sealed_rows, on_graph_built)
    except BaseException:
        file.close()
        if sealed_rows is not None:
            sealed_rows[0].close()
        raise


def _check_rows(header: Header, source: RowSource) -> None:
    """Sealed rows replace the vectors section: as many, as long, and not both."""
    expected = (header.rows, (header.dimensions or 0) * 4) if header.has_codes else None
    if "vectors" in header.sections or (
        source.rows and (source.rows, source.row_bytes) != expected
    ):
        raise UnusableImage("sealed rows do not match the image")


def _assemble(
    file: IO[bytes],
    header: Header,
    data_end: int,
    config: IndexConfig,
    sealed_rows: tuple[IO[bytes], RowSource] | None,
    on_graph_built: OnBuilt | None,
) -> DatabaseIndex:
    """Build the index over a read-only mapping of the checked image."""
    mapping = mmap.mmap(file.fileno(), data_end, access=mmap.ACCESS_READ)
    sections = header.sections

    def array(name: str, dtype: type[np.generic] | str) -> npt.NDArray[Any]:
        section = sections[name]
        count = section.length // np.dtype(dtype).itemsize
        return np.frombuffer(mapping, dtype=dtype, count=count, offset=section.offset)

    def blob(name: str) -> bytes:
        section = sections[name]
        return mapping[section.offset : section.offset + section.length]

    records = Records(
        blob("ids"),
        _offsets(array("id_offsets", header.id_offsets).copy(), sections["ids"].length),
        blob("meta"),
        _offsets(array("meta_offsets", header.meta_offsets).copy(), sections["meta"].length),
    )
    store: VectorStore | None = None
    if header.has_codes:
        quantization, threads = header.quantization, config.search_threads
        codes = np.frombuffer(
            mapping,
            dtype=RAM_DTYPES[quantization],
            count=header.rows * (header.dimensions or 0),
            offset=header.codes_at(),
        ).reshape(header.rows, -1)
        if sealed_rows is not None and sealed_rows[1].rows:
            store = SealedRowsStore(
                codes, quantization, sealed_rows[0], threads, sealed_rows[1], config.spill_dir
            )
        else:
            spill = file if "vectors" in sections else None
            store = VectorStore(codes, quantization, spill, threads)
    spill_file = store._spill if store is not None else None
    for unused in (file, sealed_rows[0] if sealed_rows else None):
        if unused is not None and unused is not spill_file:
            unused.close()  # the mapping stays valid without the descriptor
    graph = None
    if store is not None and "graph" in sections:
        graph = _mapped_graph(mapping, sections["graph"], header, config, store)
    return _ready_index(header.dimensions, config, records, store, graph, on_graph_built)


def _offsets(offsets: npt.NDArray[Any], blob_length: int) -> npt.NDArray[Any]:
    """Check that record offsets run from 0 to the blob's end without going back."""
    if offsets[0] != 0 or offsets[-1] != blob_length or (np.diff(offsets) < 0).any():
        raise UnusableImage("record offsets inconsistent")
    return offsets


class _MappedGraph(Graph):
    """A graph viewed in a mapped image; it holds the mapping as long as usearch reads it."""

    def __init__(self, index: Index, store: VectorStore, threads: int, view: memoryview) -> None:
        super().__init__(index, store, threads)
        self._view = view  # after _index: released only once usearch has let go


def _mapped_graph(
    mapping: mmap.mmap, section: Section, header: Header, config: IndexConfig, store: VectorStore
) -> Graph | None:
    """The saved graph, or None when it must be rebuilt (other tuning, or usearch refuses it)."""
    if (header.connectivity, header.expansion_add) != (config.connectivity, config.expansion_add):
        return None
    view = memoryview(mapping)[section.offset : section.offset + section.length]
    meta = Index.metadata(view) or {}
    if meta.get("dimensions") != store.dimensions or meta.get("count_present") != len(store):
        return None
    index = Index(
        ndim=store.dimensions,
        metric="cos",
        dtype=header.quantization,
        connectivity=header.connectivity,
        expansion_add=header.expansion_add,
        expansion_search=config.expansion_search,
        enable_key_lookups=False,
    )
    try:
        index.view(view)
    except Exception:  # e.g. a usearch upgrade that reads older files differently
        return None
    if len(index) != len(store):
        return None
    return _MappedGraph(index, store, config.search_threads, view)


def _ready_index(
    dimensions: int | None,
    config: IndexConfig,
    records: Records,
    store: VectorStore | None,
    graph: Graph | None,
    on_graph_built: OnBuilt | None,
) -> DatabaseIndex:
    """A DatabaseIndex in the state ``finish()`` leaves, over restored parts."""
    index = DatabaseIndex(dimensions, config, on_graph_built=on_graph_built)
    with index._lock:
        index._records_builder = None
        index._records, index._store = records, store
        index._matcher = FilterMatcher(len(records), records.field_values)
        index._state = "ready"
        if graph is not None:
            index._graph = graph
            index._graph_done.set()
        elif store is not None and len(store) >= config.graph_threshold:
            index._build = GraphBuild(store, config, index._graph_built)
            index._build.start()
        else:
            index._graph_done.set()
    return index
