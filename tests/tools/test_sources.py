"""Inputs that cannot be published are refused with a message naming the file (and line)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from s5vec.tools.sources import SourceError, open_source
from tests.tools.inputs import write_lines, write_npy

RECORD = {"id": "a", "vector": [1.0, 2.0]}


def _drain(path: Path, metadata: Path | None = None, size: int = 2) -> None:
    """Open and read every batch, as publish does."""
    for _ in open_source(path, metadata).batches(size):
        pass


@pytest.mark.parametrize(
    ("name", "write", "message"),
    [
        ("v.txt", lambda p: p.write_text("1 2 3\n"), "expected a .npy or .jsonl file"),
        ("v.jsonl", lambda p: p.write_text("\n  \n"), "no vectors"),
        ("v.jsonl", lambda p: p.write_text(""), "no vectors"),
        (
            "v.jsonl",
            lambda p: p.write_text('{"id": "a", "vector": [1, 2]}\n{oops\n'),
            ":2: not valid",
        ),
        (
            "v.jsonl",
            lambda p: write_lines(p, [RECORD, {"id": "b", "vector": [1.0, 2.0, 3.0]}]),
            ":2: 3 dimensions, expected 2",
        ),
        ("v.jsonl", lambda p: write_lines(p, [{"id": "a", "vector": []}]), "got 0"),
        ("v.jsonl", lambda p: write_lines(p, [[1, 2]]), ":1: expected an object"),
        ("v.jsonl", lambda p: write_lines(p, [{"vector": [1.0]}]), ":1: id must be"),
        ("v.jsonl", lambda p: write_lines(p, [{"id": "", "vector": [1.0]}]), ":1: id must be"),
        ("v.jsonl", lambda p: write_lines(p, [{"id": True, "vector": [1.0]}]), ":1: id must be"),
        ("v.jsonl", lambda p: write_lines(p, [{"id": "a", "vector": ["1"]}]), "list of numbers"),
        ("v.jsonl", lambda p: write_lines(p, [{"id": "a", "vector": [True]}]), "list of numbers"),
        (
            "v.jsonl",
            lambda p: write_lines(p, [{"id": "a", "vector": [1.0], "metadata": [1]}]),
            ":1: metadata must be an object",
        ),
        ("v.npy", lambda p: p.write_bytes(b"not numpy"), "not a readable .npy file"),
        ("v.npy", lambda p: write_npy(p, np.ones(3)), "2-D array of real numbers"),
        ("v.npy", lambda p: write_npy(p, np.ones((2, 0))), "got 0"),
        ("v.npy", lambda p: write_npy(p, np.ones((1, 4097))), "got 4097"),
        ("v.npy", lambda p: write_npy(p, np.ones((2, 2), dtype=np.complex64)), "real numbers"),
        ("v.npy", lambda p: write_npy(p, np.array([["a", "b"]])), "real numbers"),
        ("v.npy", lambda p: write_npy(p, np.array([[{}]], dtype=object)), "not a readable"),
    ],
)
def test_unusable_inputs_are_refused_when_opened(
    tmp_path: Path, name: str, write: Callable[[Path], object], message: str
) -> None:
    path = tmp_path / name
    write(path)
    with pytest.raises(SourceError, match=message) as caught:
        open_source(path)
    assert str(caught.value).startswith(str(path))


@pytest.mark.parametrize(
    ("rows", "bad_row"),
    [
        (np.array([[1, 2], [3, 4], [5, np.nan]], dtype=np.float32), 2),
        (np.array([[1, 2], [np.inf, 4]], dtype=np.float64), 1),
        (np.array([[1, 2], [3, 4], [1e39, 0]], dtype=np.float64), 2),  # beyond float32
    ],
)
def test_non_finite_rows_are_refused_with_their_row(
    tmp_path: Path, rows: np.ndarray, bad_row: int
) -> None:
    path = write_npy(tmp_path / "v.npy", rows)
    with pytest.raises(SourceError, match=f"row {bad_row} holds NaN, Inf"):
        _drain(path)


def test_jsonl_numbers_beyond_float32_are_refused(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "v.jsonl", [RECORD, {"id": "b", "vector": [1e39, 0.0]}])
    with pytest.raises(SourceError, match="row 1 holds NaN, Inf"):
        _drain(path)


def test_missing_input_and_missing_metadata_are_refused(tmp_path: Path) -> None:
    rows = write_npy(tmp_path / "v.npy", np.ones((1, 2)))
    with pytest.raises(SourceError, match="no such file"):
        open_source(tmp_path / "missing.npy")
    with pytest.raises(SourceError, match=r"missing\.jsonl: no such file"):
        open_source(rows, tmp_path / "missing.jsonl")
    with pytest.raises(SourceError, match="no such file"):
        open_source(tmp_path)  # a directory


@pytest.mark.parametrize("lines", [0, 1, 3])
def test_metadata_needs_one_line_per_row(tmp_path: Path, lines: int) -> None:
    rows = write_npy(tmp_path / "v.npy", np.ones((2, 2)))
    metadata = write_lines(tmp_path / "m.jsonl", [{"k": i} for i in range(lines)])
    with pytest.raises(SourceError, match=r"m\.jsonl: needs exactly one JSON object per row \(2\)"):
        open_source(rows, metadata)


def test_metadata_lines_must_be_objects(tmp_path: Path) -> None:
    rows = write_npy(tmp_path / "v.npy", np.ones((2, 2)))
    metadata = write_lines(tmp_path / "m.jsonl", [{"k": 1}, [1]])
    with pytest.raises(SourceError, match=r"m\.jsonl:2: metadata must be a JSON object"):
        _drain(rows, metadata)


def test_metadata_file_goes_with_npy_only(tmp_path: Path) -> None:
    vectors = write_lines(tmp_path / "v.jsonl", [RECORD])
    metadata = write_lines(tmp_path / "m.jsonl", [{}])
    with pytest.raises(SourceError, match=r"--metadata goes with a \.npy input"):
        open_source(vectors, metadata)


def test_unreadable_input_is_a_source_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_lines(tmp_path / "v.jsonl", [RECORD])

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    # A fake: chmod does not stop root, which runs these tests in CI containers.
    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(SourceError, match=r"v\.jsonl: cannot be read \(Permission denied\)"):
        open_source(path)


def test_jsonl_ids_metadata_and_blank_lines(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "v.ndjson",
        [
            {"id": 7, "vector": [1, 2]},
            {"id": "x", "vector": [0.5, -1], "metadata": None},
            {"id": "y", "vector": [3, 4], "metadata": {"k": [1, "a"]}},
        ],
    )
    path.write_bytes(path.read_bytes().replace(b"\n", b"\n\n", 1))
    source = open_source(path)
    assert (source.count, source.dimensions) == (3, 2)
    batches = list(source.batches(2))
    assert [b.ids for b in batches] == [["7", "x"], ["y"]]
    assert [b.metadata for b in batches] == [[{}, {}], [{"k": [1, "a"]}]]
    assert batches[0].vectors.dtype == np.float32
    assert batches[0].vectors.tolist() == [[1.0, 2.0], [0.5, -1.0]]


def test_npy_of_any_real_dtype_streams_as_float32_in_order(tmp_path: Path) -> None:
    rows = np.arange(10, dtype=np.int16).reshape(5, 2)
    path = write_npy(tmp_path / "v.npy", rows)
    batches = list(open_source(path).batches(2))
    assert [b.ids for b in batches] == [["0", "1"], ["2", "3"], ["4"]]
    assert np.array_equal(np.concatenate([b.vectors for b in batches]), rows.astype(np.float32))
    assert all(meta == {} for b in batches for meta in b.metadata)
