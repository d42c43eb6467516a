"""The dev store's hash-to-path index: what a scan sees, what it re-hashes, what PUT records."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s5vec.devstore.blobindex import BlobIndex, Hashed, scan
from s5vec.formats.cid import cid_for_bytes


def digest(data: bytes) -> bytes:
    """The BLAKE3 hash of ``data``."""
    return blake3.blake3(data).digest()


def test_scan_hashes_every_servable_file(tmp_path: Path) -> None:
    (tmp_path / "home/db").mkdir(parents=True)
    (tmp_path / "home/db/chunk-0.json").write_bytes(b"chunk")
    (tmp_path / "top").write_bytes(b"")
    (tmp_path / ".s5vec-blobs").mkdir()
    (tmp_path / ".s5vec-blobs/ab").write_bytes(b"posted")
    (tmp_path / "home/.S5VEC-tmp-1").write_bytes(b"partial")
    (tmp_path / "home/bad\\name").write_bytes(b"not an S5 path")
    (tmp_path / "link").symlink_to(tmp_path / "top")
    (tmp_path / "linked-dir").symlink_to(tmp_path / "home")
    hashed = scan(tmp_path, {})
    assert {path: entry.digest for path, entry in hashed.items()} == {
        "home/db/chunk-0.json": digest(b"chunk"),
        "top": digest(b""),
    }


def test_scan_reuses_hashes_of_unchanged_files_only(tmp_path: Path) -> None:
    (tmp_path / "same").write_bytes(b"1")
    (tmp_path / "changed").write_bytes(b"2")
    first = scan(tmp_path, {})
    # A wrong digest with the right signature is trusted: that is what proves the reuse.
    planted = {
        "same": Hashed(b"\x00" * 32, first["same"].signature),
        "changed": first["changed"],
        "gone": Hashed(b"\x01" * 32, None),
    }
    (tmp_path / "changed").write_bytes(b"22")
    again = scan(tmp_path, planted)
    assert again["same"].digest == b"\x00" * 32
    assert again["changed"].digest == digest(b"22")
    assert "gone" not in again


def test_scan_rehashes_entries_recorded_without_a_signature(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"actual")
    again = scan(tmp_path, {"f": Hashed(b"\x00" * 32, None)})
    assert again["f"].digest == digest(b"actual")


def test_scan_notices_a_same_size_rewrite_with_the_old_mtime(tmp_path: Path) -> None:
    file = tmp_path / "f"
    file.write_bytes(b"aaaa")
    first = scan(tmp_path, {})
    times = os.stat(file)
    replacement = tmp_path / "g"
    replacement.write_bytes(b"bbbb")
    os.utime(replacement, ns=(times.st_atime_ns, times.st_mtime_ns))
    os.replace(replacement, file)  # what LocalStorage does: a new inode
    assert scan(tmp_path, first)["f"].digest == digest(b"bbbb")


async def test_record_moves_a_path_to_its_new_hash(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"old")
    index = BlobIndex(tmp_path)
    await index.refresh()
    assert index.path_for(digest(b"old")) == "f"
    (tmp_path / "f").write_bytes(b"new")
    index.record("f", digest(b"new"))
    assert index.path_for(digest(b"new")) == "f"
    assert index.path_for(digest(b"old")) is None


async def test_record_keeps_another_path_with_the_old_content(tmp_path: Path) -> None:
    index = BlobIndex(tmp_path)
    index.record("a", digest(b"x"))
    index.record("b", digest(b"x"))
    index.record("a", digest(b"y"))
    assert index.path_for(digest(b"x")) == "b"


async def test_refresh_forgets_deleted_files_and_finds_new_ones(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a")
    index = BlobIndex(tmp_path)
    await index.refresh()
    (tmp_path / "a").unlink()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/b").write_bytes(b"b")
    await index.refresh()
    assert index.path_for(digest(b"a")) is None
    assert index.path_for(digest(b"b")) == "sub/b"


@settings(max_examples=30, deadline=None)
@given(
    files=st.dictionaries(
        st.sampled_from(["a", "b", "d/c", "d/e/f"]), st.binary(max_size=3000), max_size=4
    )
)
def test_scan_matches_a_fresh_hash_of_every_file(files: dict[str, bytes]) -> None:
    # A private temp directory per example: hypothesis reruns the body, tmp_path is per test.
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        for path, data in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(data)
        hashed = scan(root, {})
        assert {path: entry.digest for path, entry in hashed.items()} == {
            path: digest(data) for path, data in files.items()
        }


@pytest.mark.parametrize("size", [0, 1, 1024, 1024 * 1024 + 7])
def test_large_and_empty_files_hash_like_cid_for_bytes(tmp_path: Path, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    (tmp_path / "f").write_bytes(data)
    assert scan(tmp_path, {})["f"].digest == cid_for_bytes(data).hash
