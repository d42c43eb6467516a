"""Path validation shared by every backend."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s5vec.errors import PermanentStorageError
from s5vec.storage.paths import split_dir, split_path
from tests.storage.strategies import relative_paths


@given(relative_paths)
def test_valid_paths_split_into_their_segments(path: str) -> None:
    assert "/".join(split_path(path)) == path


@given(st.text(max_size=40))
def test_any_text_splits_or_is_refused_never_escaping(path: str) -> None:
    try:
        segments = split_path(path)
    except PermanentStorageError:
        return
    assert all(s not in ("", ".", "..") and "/" not in s and "\x00" not in s for s in segments)
    assert not path.startswith("/")


@pytest.mark.parametrize("path", ["a" * 256, "a/" * 2100 + "a", "\udc80"])
def test_oversized_or_unencodable_paths_are_refused(path: str) -> None:
    with pytest.raises(PermanentStorageError):
        split_path(path)


@pytest.mark.parametrize(("path", "segments"), [("", ()), ("/", ()), ("a/b/", ("a", "b"))])
def test_directory_paths(path: str, segments: tuple[str, ...]) -> None:
    assert split_dir(path) == segments


def test_multibyte_segment_limit_counts_bytes() -> None:
    split_path("é" * 127)
    with pytest.raises(PermanentStorageError):
        split_path("é" * 128)


@pytest.mark.parametrize(
    "path", [".s5vec-blobs/x", "a/.s5vec-tmp-1", "a/.S5VEC-Blobs", "\u017f5vec".join([".", "-x"])]
)
def test_reserved_names_are_refused_in_any_case(path: str) -> None:
    with pytest.raises(PermanentStorageError, match="reserved"):
        split_path(path)
    with pytest.raises(PermanentStorageError, match="reserved"):
        split_dir(path)


@pytest.mark.parametrize("path", ["s5vec-blobs", "a/x.s5vec-", "a/.s5vec", ".s5vecx"])
def test_names_that_only_resemble_reserved_ones_are_accepted(path: str) -> None:
    assert "/".join(split_path(path)) == path
