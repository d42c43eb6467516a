"""LocalStorage specifics: symlinks cannot lead out, writes are atomic, health probes disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from s5vec.errors import NotFound, PermanentStorageError
from s5vec.storage.local import LocalStorage
from s5vec.storage.paths import TEMP_PREFIX


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the store root, holding a secret."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "secret").write_bytes(b"secret")
    return directory


async def test_file_for_path_p_is_root_slash_p(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    await storage.put("home/vector-databases/0xab/db/chunk-0.json", b"bytes")
    on_disk = tmp_path / "root/home/vector-databases/0xab/db/chunk-0.json"
    assert on_disk.read_bytes() == b"bytes"


async def test_symlinked_directory_escaping_the_root_is_refused(
    tmp_path: Path, outside: Path
) -> None:
    storage = LocalStorage(tmp_path / "root")
    (tmp_path / "root" / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PermanentStorageError, match="leaves"):
        await storage.get("link/secret")
    with pytest.raises(PermanentStorageError, match="leaves"):
        await storage.put("link/planted", b"x")
    with pytest.raises(PermanentStorageError, match="leaves"):
        await storage.list("link")
    assert not (outside / "planted").exists()


async def test_symlinked_file_escaping_the_root_is_refused(tmp_path: Path, outside: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    (tmp_path / "root" / "secret").symlink_to(outside / "secret")
    with pytest.raises(PermanentStorageError):
        await storage.get("secret")
    with pytest.raises(PermanentStorageError):
        await storage.delete("secret")
    assert (outside / "secret").read_bytes() == b"secret"


async def test_symlink_inside_the_root_is_followed(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    await storage.put("real/file", b"data")
    (tmp_path / "root" / "alias").symlink_to(tmp_path / "root" / "real")
    assert await storage.get("alias/file") == b"data"


async def test_root_given_through_a_symlink_works(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "via").symlink_to(tmp_path / "real")
    storage = LocalStorage(tmp_path / "via")
    await storage.put("a/b", b"1")
    assert (tmp_path / "real/a/b").read_bytes() == b"1"


async def test_writes_leave_no_temp_files(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    for size in (0, 10, 1 << 20):
        await storage.put("d/file", b"z" * size)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["file"]


async def test_in_flight_temp_files_are_hidden_from_listings(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    await storage.put("d/file", b"1")
    (tmp_path / "d" / f"{TEMP_PREFIX}abc").write_bytes(b"partial")
    assert await storage.list("d") == ["file"]


async def test_reserved_directories_are_hidden_from_listings(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    await storage.put("d/file", b"1")
    (tmp_path / ".s5vec-blobs").mkdir()
    (tmp_path / "d" / ".S5VEC-other").mkdir()
    assert await storage.list("") == ["d/"]
    assert await storage.list("d") == ["file"]


async def test_reserved_temp_names_cannot_be_addressed(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    with pytest.raises(PermanentStorageError):
        await storage.get(f"d/{TEMP_PREFIX}abc")


async def test_health_is_false_when_the_root_is_gone(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    (tmp_path / "root").rmdir()
    (tmp_path / "root").write_bytes(b"not a directory")
    assert (await storage.health())["healthy"] is False


async def test_missing_root_without_create_lists_as_not_found(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "absent", create=False)
    assert (await storage.health())["healthy"] is False
    with pytest.raises(NotFound):
        await storage.list("")


async def test_error_messages_do_not_quote_the_path(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    await storage.put("0xsecretowner/file", b"1")
    for action in (
        storage.get("0xsecretowner/missing"),
        storage.put("0xsecretowner/file/child", b"2"),
    ):
        with pytest.raises((NotFound, PermanentStorageError)) as caught:
            await action
        assert "0xsecretowner" not in caught.value.message
        assert str(tmp_path) not in caught.value.message
