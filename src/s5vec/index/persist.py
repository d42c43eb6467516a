"""A built :class:`DatabaseIndex` as one file, and the index again from it, memory-mapped.

Image layout; each section starts on a 4 KiB boundary, so each can be mapped on its own:

- ``vectors``: the full-precision unit rows (float32), only when RAM holds quantised codes.
  It comes first, at offset 0, so the image file itself is the restored store's re-scoring
  file (read with pread, as a spill file is).
- ``codes``: the rows as RAM holds them (i8, f16 or f32).
- ``id_offsets``, ``ids``, ``meta_offsets``, ``meta``: the packed records.
- ``graph``: the HNSW graph as usearch saves it (with usearch's own copy of the codes).
- the header (JSON: shape, tuning, and offset, length and BLAKE3 of every section), then a
  trailer: header length (u64 LE), the header's BLAKE3 (16 bytes) and ``MAGIC``.

Opening checks the trailer, the header and every section's BLAKE3 (a damaged graph could
crash usearch), then maps the file: the codes and the graph are views of the mapping (pages
come in on first use and stay reclaimable page cache), ids and metadata are copied (a few MB
per 100K rows). Anything wrong raises :class:`UnusableImage`: the caller treats it as a miss.

This is the index package's serialiser, the one module that reads and assembles the private
parts of ``DatabaseIndex``, ``VectorStore``, ``Records`` and ``Graph``.
"""

from __future__ import annotations

import mmap
import os
import struct
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, Protocol

import blake3
import msgspec
import numpy as np
import numpy.typing as npt
from usearch.index import Index

from s5vec.errors import VectorsNotLoaded
from s5vec.index.config import IndexConfig, Quantization
from s5vec.index.database import DatabaseIndex
from s5vec.index.filters import FilterMatcher
from s5vec.index.graph import Graph, GraphBuild, OnBuilt
from s5vec.index.records import Records
from s5vec.index.store import VectorStore

MAGIC = b"S5VIDX01"
VERSION = 1
ALIGN = 4096
_TRAILER = struct.Struct("<Q16s8s")
_BLOCK = 4 * 1024 * 1024
"""Bytes read or hashed at once when streaming a section."""
_RAM_DTYPES: dict[str, type[np.generic]] = {"f32": np.float32, "f16": np.float16, "i8": np.int8}


class UnusableImage(Exception):
    """A persisted image that cannot serve (damaged, truncated, foreign, other tuning).

    Never reaches a client: the caller counts the lookup as a miss and loads from storage.
    """


class Sink(Protocol):
    """Where an image is written: a binary file, or a writer that encrypts on the way."""

    def write(self, data: bytes | memoryview, /) -> object:
        """Write all of ``data``."""
        ...


class _Section(msgspec.Struct, array_like=True, frozen=True):
    offset: int
    length: int
    digest: str
    """Hex BLAKE3 of the section's bytes."""


class _Header(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: int
    entry: str
    """The identity the image was written under; opening checks it (no renamed files)."""
    rows: int
    dimensions: int | None
    quantization: Quantization
    id_offsets: Literal["int32", "int64"]
    meta_offsets: Literal["int32", "int64"]
    connectivity: int
    expansion_add: int
    sections: dict[str, _Section]


@dataclass(slots=True)
class Snapshot:
    """Everything an image is written from, held by reference (and a duplicated descriptor
    of the spill file), so the index may close while the image is written."""

    dimensions: int | None
    quantization: Quantization
    ram: npt.NDArray[Any] | None
    spill_fd: int | None
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
        total = self.records.nbytes() + 7 * ALIGN
        if self.ram is not None:
            total += int(self.ram.nbytes)
            if self.spill_fd is not None:
                total += self.rows * int(self.ram.shape[1]) * 4
        if self.graph is not None:
            total += int(self.graph._index.serialized_length)
        return total

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
                records=records,
                graph=index._graph,
                connectivity=index._config.connectivity,
                expansion_add=index._config.expansion_add,
            )
    except VectorsNotLoaded:
        return None


# --- writing ------------------------------------------------------------------------------


class _ImageWriter:
    """Writes aligned, hashed sections to a sink, then the header and trailer."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._position = 0
        self.sections: dict[str, _Section] = {}

    def _write(self, data: bytes | memoryview) -> None:
        self._sink.write(data)
        self._position += len(data)

    def section(self, name: str, blocks: Iterable[bytes | memoryview]) -> None:
        """Write one section from ``blocks``, starting on an ``ALIGN`` boundary."""
        gap = -self._position % ALIGN
        if gap:
            self._write(bytes(gap))
        start = self._position
        digest = blake3.blake3()
        for block in blocks:
            digest.update(block)
            self._write(block)
        self.sections[name] = _Section(start, self._position - start, digest.hexdigest())

    def finish(self, header: _Header) -> int:
        """Write the header and trailer; return the image's size."""
        encoded = msgspec.json.encode(header)
        self._write(encoded)
        self._write(_TRAILER.pack(len(encoded), blake3.blake3(encoded).digest(length=16), MAGIC))
        return self._position


def write_image(snap: Snapshot, sink: Sink, entry: str, scratch_dir: Path) -> int:
    """Write ``snap`` as an image for ``entry`` to ``sink``; return the bytes written.

    ``scratch_dir`` briefly holds usearch's own save of the graph (usearch writes to a path).
    """
    writer = _ImageWriter(sink)
    if snap.ram is not None:
        ram = np.ascontiguousarray(snap.ram)
        if snap.spill_fd is not None:
            writer.section("vectors", _file_blocks(snap.spill_fd, snap.rows * ram.shape[1] * 4))
        writer.section("codes", [ram.data.cast("B")])
    records = snap.records
    for name, blob in (
        ("id_offsets", records._id_offsets.tobytes()),
        ("ids", records._ids),
        ("meta_offsets", records._meta_offsets.tobytes()),
        ("meta", records._meta),
    ):
        writer.section(name, [blob])
    if snap.graph is not None:
        with tempfile.NamedTemporaryFile(dir=scratch_dir, prefix=".", suffix=".graph.tmp") as tmp:
            snap.graph._index.save(tmp.name)
            size = os.fstat(tmp.fileno()).st_size
            writer.section("graph", _file_blocks(tmp.fileno(), size))
    return writer.finish(
        _Header(
            version=VERSION,
            entry=entry,
            rows=snap.rows,
            dimensions=snap.dimensions,
            quantization=snap.quantization,
            id_offsets=_offsets_dtype(records._id_offsets),
            meta_offsets=_offsets_dtype(records._meta_offsets),
            connectivity=snap.connectivity,
            expansion_add=snap.expansion_add,
            sections=writer.sections,
        )
    )


def _offsets_dtype(offsets: npt.NDArray[Any]) -> Literal["int32", "int64"]:
    return "int32" if offsets.dtype == np.int32 else "int64"


def _file_blocks(fd: int, size: int, start: int = 0) -> Iterator[bytes]:
    """``size`` bytes of ``fd`` from ``start``, in blocks; UnusableImage if it is shorter."""
    done = 0
    while done < size:
        block = os.pread(fd, min(_BLOCK, size - done), start + done)
        if not block:
            raise UnusableImage("file shorter than its header says")
        done += len(block)
        yield block


# --- opening ------------------------------------------------------------------------------


def open_image(
    file: IO[bytes],
    config: IndexConfig,
    entry: str,
    *,
    on_graph_built: OnBuilt | None = None,
) -> DatabaseIndex:
    """The searchable index stored in ``file`` (read from offset 0), which it takes over.

    The index keeps ``file`` as its re-scoring file (closed with the index) or closes it.
    A graph that is absent, or was built with another connectivity or expansion, is built
    again in the background as after a load. Raises UnusableImage (``file`` closed).
    """
    try:
        header, data_end = _read_header(file.fileno(), entry, config)
        for section in header.sections.values():
            _check_digest(file.fileno(), section)
        return _assemble(file, header, data_end, config, on_graph_built)
    except BaseException:
        file.close()
        raise


def _read_header(fd: int, entry: str, config: IndexConfig) -> tuple[_Header, int]:
    """The checked header and where the sections end."""
    size = os.fstat(fd).st_size
    if size < _TRAILER.size:
        raise UnusableImage("too short")
    length, digest, magic = _TRAILER.unpack(os.pread(fd, _TRAILER.size, size - _TRAILER.size))
    data_end = size - _TRAILER.size - length
    if magic != MAGIC or data_end < 0:
        raise UnusableImage("not an index image")
    encoded = os.pread(fd, length, data_end)
    if blake3.blake3(encoded).digest(length=16) != digest:
        raise UnusableImage("header damaged")
    try:
        header = msgspec.json.decode(encoded, type=_Header)
    except msgspec.ValidationError:
        raise UnusableImage("header unreadable") from None
    if header.version != VERSION or header.entry != entry:
        raise UnusableImage("written by another version or for another entry")
    if header.quantization != config.quantization:
        raise UnusableImage("stored with another quantization")
    _check_shape(header, data_end)
    return header, data_end


def _check_shape(header: _Header, data_end: int) -> None:
    """Every section fits the file and has the length the header's shape implies."""
    rows, dims, sections = header.rows, header.dimensions, header.sections
    expected = {
        "id_offsets": (rows + 1) * np.dtype(header.id_offsets).itemsize,
        "meta_offsets": (rows + 1) * np.dtype(header.meta_offsets).itemsize,
    }
    if "codes" in sections:
        if dims is None or not 1 <= dims <= 4096:
            raise UnusableImage("bad dimensions")
        expected["codes"] = rows * dims * np.dtype(_RAM_DTYPES[header.quantization]).itemsize
    if "vectors" in sections:
        if "codes" not in sections or sections["vectors"].offset != 0:
            raise UnusableImage("vectors section misplaced")
        expected["vectors"] = rows * (dims or 0) * 4
    required = {"ids", "meta", *expected}
    if not required <= sections.keys() or rows < 0 or (rows > 0 and "codes" not in sections):
        raise UnusableImage("sections missing")
    for name, section in sections.items():
        if name in expected and section.length != expected[name]:
            raise UnusableImage(f"section {name} has the wrong length")
        if section.offset < 0 or section.length < 0 or section.offset + section.length > data_end:
            raise UnusableImage(f"section {name} lies outside the file")


def _check_digest(fd: int, section: _Section) -> None:
    digest = blake3.blake3()
    for block in _file_blocks(fd, section.length, section.offset):
        digest.update(block)
    if digest.hexdigest() != section.digest:
        raise UnusableImage("section damaged")


def _assemble(
    file: IO[bytes],
    header: _Header,
    data_end: int,
    config: IndexConfig,
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
    store = None
    if "codes" in sections:
        codes = array("codes", _RAM_DTYPES[header.quantization]).reshape(header.rows, -1)
        spill = file if "vectors" in sections and header.quantization != "f32" else None
        store = VectorStore(codes, header.quantization, spill, config.search_threads)
    if store is None or store._spill is None:
        file.close()  # the mapping stays valid without the descriptor
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
    mapping: mmap.mmap, section: _Section, header: _Header, config: IndexConfig, store: VectorStore
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
