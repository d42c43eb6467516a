"""index.persist: a DatabaseIndex written as an image and opened again, memory-mapped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s5vec.index import DatabaseIndex, IndexConfig, parse_filter
from s5vec.index.image import UnusableImage, read_header
from s5vec.index.persist import (
    graph_settled,
    open_image,
    snapshot,
    write_image,
)
from tests.index.helpers import build, clustered, near

ENTRY = "ab" * 32


def metadata(n: int) -> list[dict[str, Any]]:
    """Small metadata with a filterable field."""
    return [
        {"row": i, "colour": ["red", "green", "blue"][i % 3], "text": f"é{i}"} for i in range(n)
    ]


def save(index: DatabaseIndex, path: Path, entry: str = ENTRY) -> int:
    """Write ``index``'s image to ``path``; return its size."""
    snap = snapshot(index)
    assert snap is not None
    try:
        with path.open("wb") as out:
            return write_image(snap, out, entry, path.parent)
    finally:
        snap.release()


def reopen(path: Path, config: IndexConfig, entry: str = ENTRY) -> DatabaseIndex:
    """Open the image at ``path`` as a new index (what a restarted process does)."""
    return open_image(path.open("rb"), config, entry)


@pytest.fixture
def spill(tmp_path: Path) -> Path:
    directory = tmp_path / "spill"
    directory.mkdir()
    return directory


@pytest.fixture
def closing() -> Iterator[list[DatabaseIndex]]:
    """Indexes to close after the test."""
    indexes: list[DatabaseIndex] = []
    yield indexes
    for index in indexes:
        index.close()


def assert_same_answers(a: DatabaseIndex, b: DatabaseIndex, queries: np.ndarray) -> None:
    """Same hits (ids, scores, metadata), unfiltered and filtered, with and without threshold."""
    red = parse_filter({"colour": "red"})
    for query in queries:
        assert a.search(query, 10) == b.search(query, 10)
        assert a.search(query, 7, threshold=0.1, flt=red) == b.search(query, 7, 0.1, red)


@pytest.mark.parametrize(
    ("quantization", "spilled"), [("i8", True), ("i8", False), ("f16", True), ("f32", False)]
)
def test_round_trip_answers_exactly_as_the_saved_index(
    tmp_path: Path, spill: Path, closing: list[DatabaseIndex], quantization: Any, spilled: bool
) -> None:
    config = IndexConfig(
        quantization=quantization, spill_dir=spill if spilled else None, graph_threshold=2000
    )
    vectors = clustered(3000, 24)
    original = build(vectors, config, metadata(3000))
    closing.append(original)
    assert original.wait_for_graph(timeout=120)
    save(original, tmp_path / "image")

    restored = reopen(tmp_path / "image", config)
    closing.append(restored)
    assert restored.graph_ready
    assert restored.graph_build_seconds is None  # the saved graph, not a rebuild
    assert (len(restored), restored.dimensions) == (3000, 24)
    assert_same_answers(original, restored, near(vectors, 20))


def test_the_restored_index_serves_after_the_original_closed_and_the_spill_is_gone(
    tmp_path: Path, spill: Path, closing: list[DatabaseIndex]
) -> None:
    config = IndexConfig(spill_dir=spill, graph_threshold=10**9)
    vectors = clustered(500, 16)
    original = build(vectors, config, metadata(500))
    expected = original.search(vectors[7], 5)
    save(original, tmp_path / "image")
    original.close()

    restored = reopen(tmp_path / "image", config)
    closing.append(restored)
    assert restored.search(vectors[7], 5) == expected
    assert expected[0].id == "v7"
    assert expected[0].metadata == {"row": 7, "colour": "green", "text": "é7"}


def test_an_image_can_be_written_after_the_index_closed(
    tmp_path: Path, spill: Path, closing: list[DatabaseIndex]
) -> None:
    config = IndexConfig(spill_dir=spill, graph_threshold=10**9)
    vectors = clustered(400, 8)
    original = build(vectors, config)
    expected = original.search(vectors[3], 4)
    snap = snapshot(original)
    assert snap is not None
    original.close()  # closes its spill file: the snapshot's own descriptor keeps it
    try:
        with (tmp_path / "image").open("wb") as out:
            write_image(snap, out, ENTRY, tmp_path)
    finally:
        snap.release()
    restored = reopen(tmp_path / "image", config)
    closing.append(restored)
    assert restored.search(vectors[3], 4) == expected


def test_no_snapshot_of_a_closed_or_loading_index(spill: Path) -> None:
    config = IndexConfig(spill_dir=spill)
    loading = DatabaseIndex(4, config)
    assert snapshot(loading) is None
    loading.close()
    finished = build(clustered(10, 4), config)
    finished.close()
    assert snapshot(finished) is None


def test_a_graph_missing_from_the_image_is_built_after_opening(
    tmp_path: Path, spill: Path, closing: list[DatabaseIndex]
) -> None:
    vectors = clustered(2000, 16)
    saved_without = IndexConfig(spill_dir=spill, graph_threshold=10**9)
    original = build(vectors, saved_without, metadata(2000))
    closing.append(original)
    save(original, tmp_path / "image")

    wants_graph = IndexConfig(spill_dir=spill, graph_threshold=1000)
    restored = reopen(tmp_path / "image", wants_graph)
    closing.append(restored)
    assert restored.wait_for_graph(timeout=120)
    assert graph_settled(restored)
    queries = near(vectors, 10)
    hits = [restored.search(q, 10) for q in queries]
    exact = [original.search(q, 10) for q in queries]
    overlap = np.mean(
        [len({h.id for h in a} & {h.id for h in b}) / 10 for a, b in zip(hits, exact, strict=True)]
    )
    assert overlap >= 0.9


def test_a_graph_of_other_tuning_is_rebuilt(
    tmp_path: Path, spill: Path, closing: list[DatabaseIndex]
) -> None:
    vectors = clustered(1500, 16)
    original = build(vectors, IndexConfig(spill_dir=spill, graph_threshold=1000, connectivity=8))
    closing.append(original)
    assert original.wait_for_graph(timeout=120)
    save(original, tmp_path / "image")

    retuned = IndexConfig(spill_dir=spill, graph_threshold=1000, connectivity=16)
    restored = reopen(tmp_path / "image", retuned)
    closing.append(restored)
    assert restored.wait_for_graph(timeout=120)
    assert restored.graph_build_seconds is not None  # built here, not the saved one


def test_an_empty_index_round_trips(tmp_path: Path, spill: Path) -> None:
    config = IndexConfig(spill_dir=spill)
    empty = DatabaseIndex(None, config)
    empty.finish()
    save(empty, tmp_path / "image")
    empty.close()
    restored = reopen(tmp_path / "image", config)
    assert (len(restored), restored.dimensions) == (0, None)
    assert restored.search(np.ones(3, np.float32), 5) == []
    restored.close()


def test_the_restored_index_closes_its_file(
    tmp_path: Path, spill: Path, closing: list[DatabaseIndex]
) -> None:
    config = IndexConfig(spill_dir=spill, graph_threshold=10**9)
    original = build(clustered(300, 8), config)
    closing.append(original)
    save(original, tmp_path / "image")
    restored = reopen(tmp_path / "image", config)
    assert any(str(tmp_path / "image") in target for target in open_files())
    restored.close()
    assert not any(str(tmp_path / "image") in target for target in open_files())


def open_files() -> list[str]:
    """Targets of this process's open descriptors."""
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return targets


# --- unusable images ---------------------------------------------------------------------


@pytest.fixture
def image(tmp_path: Path, spill: Path) -> tuple[Path, IndexConfig]:
    """A saved image with every section (vectors, codes, records, graph)."""
    config = IndexConfig(spill_dir=spill, graph_threshold=200)
    index = build(clustered(300, 8), config, metadata(300))
    assert index.wait_for_graph(timeout=120)
    save(index, tmp_path / "image")
    index.close()
    return tmp_path / "image", config


def test_a_truncated_image_is_unusable(image: tuple[Path, IndexConfig]) -> None:
    path, config = image
    data = path.read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(UnusableImage):
            reopen(path, config)


def test_a_flipped_byte_anywhere_makes_the_image_unusable(image: tuple[Path, IndexConfig]) -> None:
    path, config = image
    data = path.read_bytes()
    positions = [*range(0, len(data), max(1, len(data) // 97)), len(data) - 1]
    for position in positions:
        damaged = bytearray(data)
        damaged[position] ^= 0x40
        path.write_bytes(bytes(damaged))
        try:
            restored = reopen(path, config)
        except UnusableImage:
            continue
        # Only the zero padding that aligns sections is covered by no digest.
        restored.close()
        assert data[position] == 0


def test_an_image_written_for_another_entry_is_unusable(image: tuple[Path, IndexConfig]) -> None:
    path, config = image
    with pytest.raises(UnusableImage):
        reopen(path, config, entry="cd" * 32)


def test_an_image_of_another_quantization_is_unusable(image: tuple[Path, IndexConfig]) -> None:
    path, config = image
    with pytest.raises(UnusableImage):
        reopen(path, IndexConfig(quantization="f16", spill_dir=config.spill_dir))


def test_opening_an_unusable_image_closes_the_file(image: tuple[Path, IndexConfig]) -> None:
    path, config = image
    path.write_bytes(b"not an image at all" * 10)
    file = path.open("rb")
    with pytest.raises(UnusableImage):
        open_image(file, config, ENTRY)
    assert file.closed


ids_strategy = st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=30, unique=True)
json_values = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=8))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ids=ids_strategy, data=st.data())
def test_ids_and_metadata_round_trip(tmp_path: Path, ids: list[str], data: st.DataObject) -> None:
    metas = [data.draw(st.dictionaries(st.text(max_size=6), json_values, max_size=4)) for _ in ids]
    vectors = np.random.default_rng(len(ids)).normal(size=(len(ids), 6)).astype(np.float32)
    config = IndexConfig(spill_dir=tmp_path, graph_threshold=10**9)
    original = DatabaseIndex(None, config)
    original.add_chunk(ids, vectors, metas)
    original.finish()
    path = tmp_path / "image"
    save(original, path)
    restored = reopen(path, config)
    try:
        everything = restored.search(vectors[0], len(ids))
        assert everything == original.search(vectors[0], len(ids))
        assert {hit.id: hit.metadata for hit in everything} == dict(zip(ids, metas, strict=True))
    finally:
        restored.close()
        original.close()


@pytest.mark.parametrize("shared", [True, False], ids=["codes-in-graph", "codes-apart"])
def test_codes_are_stored_once_when_the_graph_holds_them_in_row_order(
    tmp_path: Path,
    spill: Path,
    closing: list[DatabaseIndex],
    monkeypatch: pytest.MonkeyPatch,
    shared: bool,
) -> None:
    if not shared:  # as when a multi-threaded build stored the vectors in another order
        monkeypatch.setattr("s5vec.index.persist._codes_in_graph", lambda fd, ram: None)
    config = IndexConfig(spill_dir=spill, graph_threshold=500, build_threads=1)
    vectors = clustered(800, 16)
    original = build(vectors, config, metadata(800))
    closing.append(original)
    assert original.wait_for_graph(timeout=120)
    save(original, tmp_path / "image")
    with (tmp_path / "image").open("rb") as image:
        header, _ = read_header(image.fileno(), ENTRY, config)
    assert ("codes" in header.sections) is not shared
    assert (header.codes_in_graph is not None) is shared

    restored = reopen(tmp_path / "image", config)
    closing.append(restored)
    assert restored.graph_ready
    assert_same_answers(original, restored, near(vectors, 10))
