"""cache.PersistedIndexes: names, sealing at rest, misses, damage, the disk bound, saving."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from s5vec.cache.keys import CacheKey, new_salt
from s5vec.cache.persisted import SECRET_FILE, SUFFIX, PersistedIndexes
from s5vec.index import DatabaseIndex, IndexConfig
from s5vec.index.store import normalise, quantise

KEY = bytes(range(32))
OTHER_KEY = bytes([9]) * 32
PATH = "home/vector-databases/0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed/notes/manifest.json"
MANIFEST = b"manifest bytes, version 1"
SALT = new_salt()
ROWS, DIMS = 600, 32

Opener = Callable[..., PersistedIndexes]


def cache_key(manifest: bytes = MANIFEST, path: str = PATH) -> CacheKey:
    """The cache key of the test database (the per-process key id is not used on disk)."""
    return CacheKey.build(path, None, manifest, SALT)


def vectors(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(ROWS, DIMS)).astype(np.float32)


def ids() -> list[str]:
    return [f"secret-id-{row:06d}" for row in range(ROWS)]


def metadata() -> list[dict[str, Any]]:
    return [{"note": f"confidential-note-{row:06d}", "row": row} for row in range(ROWS)]


def built(config: IndexConfig, seed: int = 0) -> DatabaseIndex:
    """A finished index of the test database."""
    index = DatabaseIndex(DIMS, config, expected_vectors=ROWS)
    index.add_chunk(ids(), vectors(seed), metadata())
    index.finish()
    return index


@pytest.fixture
def config(tmp_path: Path) -> IndexConfig:
    (tmp_path / "spill").mkdir()
    return IndexConfig(spill_dir=tmp_path / "spill", graph_threshold=10**9)


@pytest.fixture
async def opener(tmp_path: Path) -> AsyncIterator[Opener]:
    """``opener(config, max_bytes=...)``: a catalogue over the same directory, as after a
    restart; every one is closed at the end."""
    opened: list[PersistedIndexes] = []

    def open_catalogue(config: IndexConfig, max_bytes: int = 1 << 30) -> PersistedIndexes:
        catalogue = PersistedIndexes.open(
            tmp_path / "indexes",
            config,
            max_bytes=max_bytes,
            scratch_dir=config.spill_dir,
            poll_s=0.01,
        )
        opened.append(catalogue)
        return catalogue

    yield open_catalogue
    for catalogue in opened:
        await catalogue.close()


async def persist(
    catalogue: PersistedIndexes, index: DatabaseIndex, session_key: bytes | None, **key: Any
) -> Path:
    """Save ``index`` under the test key and wait for it; return its file."""
    catalogue.save_later(cache_key(**key), index, session_key)
    await catalogue.drain()
    path = catalogue.path_for(cache_key(**key), session_key)
    assert path.exists()
    return path


def entries(catalogue: PersistedIndexes) -> list[Path]:
    return sorted(catalogue.directory.glob(f"*{SUFFIX}"))


@pytest.mark.parametrize("session_key", [None, KEY], ids=["plaintext", "keyed"])
async def test_a_saved_index_is_restored_after_a_restart(
    opener: Opener, config: IndexConfig, session_key: bytes | None
) -> None:
    original = built(config)
    await persist(opener(config), original, session_key)

    restored = await opener(config).restore(cache_key(), session_key)
    assert restored is not None
    try:
        for row in (0, 17, 599):
            assert restored.search(vectors()[row], 5) == original.search(vectors()[row], 5)
        assert restored.search(vectors()[17], 1)[0].id == "secret-id-000017"
    finally:
        restored.close()
        original.close()


def secrets_of_the_database(config: IndexConfig) -> list[bytes]:
    """Byte strings an image of the test database holds in the clear: full-precision rows,
    i8 codes, ids and metadata."""
    unit = normalise(vectors())
    codes = quantise(unit, config.quantization)
    found = [unit[row].tobytes() for row in (0, 300, 599)]
    found += [codes[row].tobytes() for row in (0, 300, 599)]
    found += [b"secret-id-000300", b"confidential-note-000300"]
    return found


async def test_a_keyed_entry_holds_no_plaintext(opener: Opener, config: IndexConfig) -> None:
    index = built(config)
    catalogue = opener(config)
    plain = (await persist(catalogue, index, None)).read_bytes()
    sealed = (await persist(catalogue, index, KEY)).read_bytes()
    index.close()
    for secret in secrets_of_the_database(config):
        assert secret in plain  # the scan finds them where they are
        assert secret not in sealed


async def test_another_key_misses_and_gets_no_vectors(opener: Opener, config: IndexConfig) -> None:
    index = built(config)
    saved = await persist(opener(config), index, KEY)
    index.close()
    restarted = opener(config)
    assert restarted.path_for(cache_key(), OTHER_KEY) != saved
    assert await restarted.restore(cache_key(), OTHER_KEY) is None
    assert await restarted.restore(cache_key(), None) is None  # no key at all
    assert saved.exists()  # a miss for another key leaves the owner's entry alone
    owner = await restarted.restore(cache_key(), KEY)
    assert owner is not None
    owner.close()


async def test_an_entry_that_fails_authentication_is_a_miss_and_deleted(
    opener: Opener, config: IndexConfig
) -> None:
    index = built(config)
    catalogue = opener(config)
    saved = await persist(catalogue, index, KEY)
    index.close()
    planted = catalogue.path_for(cache_key(), OTHER_KEY)
    shutil.copyfile(saved, planted)  # KEY's entry under OTHER_KEY's name
    assert await opener(config).restore(cache_key(), OTHER_KEY) is None
    assert not planted.exists()


async def test_a_changed_manifest_misses(opener: Opener, config: IndexConfig) -> None:
    index = built(config)
    await persist(opener(config), index, None)
    index.close()
    restarted = opener(config)
    assert await restarted.restore(cache_key(manifest=MANIFEST + b" changed"), None) is None
    assert await restarted.restore(cache_key(path=PATH.replace("notes", "other")), None) is None


@pytest.mark.parametrize("session_key", [None, KEY], ids=["plaintext", "keyed"])
@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
async def test_a_damaged_entry_is_a_miss_and_deleted(
    opener: Opener, config: IndexConfig, session_key: bytes | None, damage: str
) -> None:
    index = built(config)
    saved = await persist(opener(config), index, session_key)
    index.close()
    data = bytearray(saved.read_bytes())
    if damage == "flip":
        data[len(data) // 3] ^= 0x01
    elif damage == "truncate":
        del data[len(data) - 100 :]
    else:
        data.clear()
    saved.write_bytes(bytes(data))
    assert await opener(config).restore(cache_key(), session_key) is None
    assert not saved.exists()


async def test_the_directory_stays_within_its_bound_least_recently_used_first(
    opener: Opener, config: IndexConfig
) -> None:
    index = built(config)
    probe = await persist(opener(config), index, None, manifest=b"size probe")
    size = probe.stat().st_size
    os.utime(probe, ns=(1, 1))  # the oldest (file times may be coarser than these saves)
    catalogue = opener(config, max_bytes=int(size * 2.5))
    assert len(entries(catalogue)) == 1
    first = await persist(catalogue, index, None, manifest=b"first")
    assert len(entries(catalogue)) == 2
    second = await persist(catalogue, index, None, manifest=b"second")
    assert not probe.exists()
    assert len(entries(catalogue)) == 2
    os.utime(first, ns=(10**9, 10**9))  # "first" is older than "second" ...
    os.utime(second, ns=(2 * 10**9, 2 * 10**9))
    touched = await catalogue.restore(cache_key(manifest=b"first"), None)
    assert touched is not None  # ... until a restore makes it the most recently used
    touched.close()
    third = await persist(catalogue, index, None, manifest=b"third")
    index.close()
    assert sorted(entries(catalogue)) == sorted([first, third])
    assert not second.exists()
    assert catalogue.disk_bytes() <= int(size * 2.5)


async def test_an_index_larger_than_the_bound_is_not_saved(
    opener: Opener, config: IndexConfig
) -> None:
    index = built(config)
    catalogue = opener(config, max_bytes=1000)
    catalogue.save_later(cache_key(), index, None)
    await catalogue.drain()
    index.close()
    assert entries(catalogue) == []


async def test_a_lowered_bound_applies_at_the_next_start(
    opener: Opener, config: IndexConfig
) -> None:
    index = built(config)
    await persist(opener(config), index, None)
    index.close()
    assert entries(opener(config, max_bytes=1000)) == []


async def test_names_reveal_nothing_and_the_host_secret_is_private(
    opener: Opener, config: IndexConfig, tmp_path: Path
) -> None:
    index = built(config)
    catalogue = opener(config)
    saved = await persist(catalogue, index, KEY)
    index.close()
    directory = tmp_path / "indexes"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    secret = directory / SECRET_FILE
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(secret.read_bytes()) == 32
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert "notes" not in saved.name
    assert cache_key().manifest_digest not in saved.name
    assert KEY.hex() not in saved.name
    # A restart names entries the same way (the per-process cache salt does not matter).
    assert opener(config).path_for(cache_key(), KEY) == saved


async def test_a_lost_host_secret_orphans_and_removes_every_entry(
    opener: Opener, config: IndexConfig, tmp_path: Path
) -> None:
    index = built(config)
    saved = await persist(opener(config), index, None)
    index.close()
    (tmp_path / "indexes" / SECRET_FILE).write_bytes(b"short")
    restarted = opener(config)
    assert not saved.exists()
    assert restarted.path_for(cache_key(), None) != saved


async def test_leftovers_of_interrupted_saves_are_removed_at_start(
    opener: Opener, config: IndexConfig, tmp_path: Path
) -> None:
    opener(config)
    leftovers = [tmp_path / "indexes" / name for name in (".abc.tmp", ".x.graph.tmp")]
    for leftover in leftovers:
        leftover.write_bytes(b"partial")
    opener(config)
    assert not any(leftover.exists() for leftover in leftovers)


async def test_a_save_waits_for_the_graph_and_keeps_it(opener: Opener, tmp_path: Path) -> None:
    (tmp_path / "spill").mkdir()
    config = IndexConfig(spill_dir=tmp_path / "spill", graph_threshold=100)
    index = built(config)
    await persist(opener(config), index, KEY)
    assert index.graph_ready
    restored = await opener(config).restore(cache_key(), KEY)
    assert restored is not None
    try:
        assert restored.graph_ready
        assert restored.graph_build_seconds is None  # the saved graph, not rebuilt
        assert restored.search(vectors()[5], 3) == index.search(vectors()[5], 3)
    finally:
        restored.close()
        index.close()


async def test_an_index_closed_before_its_graph_is_in_is_not_saved(
    opener: Opener, tmp_path: Path
) -> None:
    (tmp_path / "spill").mkdir()
    config = IndexConfig(spill_dir=tmp_path / "spill", graph_threshold=100)
    index = built(config)
    catalogue = opener(config)
    catalogue.save_later(cache_key(), index, None)
    index.close()  # evicted and released before the save could run
    await catalogue.drain()
    assert entries(catalogue) == []


@pytest.mark.parametrize("session_key", [None, KEY], ids=["plaintext", "keyed"])
async def test_a_restored_index_is_saved_again_once_its_missing_graph_is_built(
    opener: Opener, tmp_path: Path, session_key: bytes | None
) -> None:
    (tmp_path / "spill").mkdir()
    without = IndexConfig(spill_dir=tmp_path / "spill", graph_threshold=10**9)
    index = built(without)
    expected = index.search(vectors()[9], 4)
    await persist(opener(without), index, session_key)
    index.close()

    with_graph = IndexConfig(spill_dir=tmp_path / "spill", graph_threshold=100)
    second = opener(with_graph)
    rebuilding = await second.restore(cache_key(), session_key)
    assert rebuilding is not None
    await second.drain()  # waits for the graph, then saves again (from the restored files)
    assert rebuilding.graph_ready
    rebuilding.close()

    third = await opener(with_graph).restore(cache_key(), session_key)
    assert third is not None
    assert third.graph_ready
    assert third.graph_build_seconds is None
    assert [hit.id for hit in third.search(vectors()[9], 4)] == [hit.id for hit in expected]
    assert third.search(vectors()[9], 1) == expected[:1]
    third.close()


async def test_a_closed_catalogue_neither_restores_nor_saves(
    opener: Opener, config: IndexConfig
) -> None:
    index = built(config)
    first = opener(config)
    await persist(first, index, None)
    await first.close()
    assert await first.restore(cache_key(), None) is None
    first.save_later(cache_key(manifest=b"other"), index, None)
    index.close()
    assert len(entries(first)) == 1


async def test_shutdown_finishes_ready_saves_and_abandons_those_waiting_for_a_graph(
    config: IndexConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    building = {"graph-ready": True, "graph-building": True}
    index = built(config)
    catalogue = PersistedIndexes.open(
        tmp_path / "indexes",
        config,
        max_bytes=1 << 30,
        poll_s=3600,  # only close wakes them
    )
    waiting: dict[int, str] = {}

    def settled(of: DatabaseIndex) -> bool:
        return not building[waiting[id(of)]]

    monkeypatch.setattr("s5vec.cache.persisted.graph_settled", settled)
    other = built(config)
    for name, which in (("graph-ready", index), ("graph-building", other)):
        waiting[id(which)] = name
        catalogue.save_later(cache_key(manifest=name.encode()), which, None)
    for _ in range(5):
        await asyncio.sleep(0)  # both saves are now waiting for their graph
    building["graph-ready"] = False  # its build ended; the save would notice in an hour
    await catalogue.close()
    assert catalogue.path_for(cache_key(manifest=b"graph-ready"), None).exists()
    assert not catalogue.path_for(cache_key(manifest=b"graph-building"), None).exists()
    index.close()
    other.close()


async def test_a_keyed_entry_of_several_read_blocks_round_trips(
    opener: Opener, config: IndexConfig
) -> None:
    # 3000 x 384 float32 rows are 4.6 MB: more than one 4 MiB block, split mid-row.
    data = np.random.default_rng(3).normal(size=(3000, 384)).astype(np.float32)
    index = DatabaseIndex(384, config)
    index.add_chunk([f"v{row}" for row in range(3000)], data, [{} for _ in range(3000)])
    index.finish()
    await persist(opener(config), index, KEY)
    restored = await opener(config).restore(cache_key(), KEY)
    assert restored is not None
    for row in (0, 1365, 2730, 2999):
        assert restored.search(data[row], 3) == index.search(data[row], 3)
    restored.close()
    index.close()


def open_files(directory: Path) -> dict[str, int]:
    """This process's open files in ``directory`` (unlinked ones included) and their sizes."""
    found = {}
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(str(directory)):
                found[target] = os.stat(f"/proc/self/fd/{fd}").st_size
    return found


async def test_a_restored_keyed_index_opens_its_rows_into_a_spill_file_in_the_background(
    opener: Opener, config: IndexConfig
) -> None:
    assert config.spill_dir is not None
    index = built(config)
    expected = [index.search(vectors()[row], 5) for row in (3, 444)]
    await persist(opener(config), index, KEY)
    index.close()
    assert open_files(config.spill_dir) == {}

    restored = await opener(config).restore(cache_key(), KEY)
    assert restored is not None
    assert restored.search(vectors()[3], 5) == expected[0]  # rows opened one by one, or copied
    # A thread of the index copies every row, opened, into an unlinked file there (beside
    # the mapped rest of the image).
    while ROWS * DIMS * 4 not in open_files(config.spill_dir).values():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    assert [restored.search(vectors()[row], 5) for row in (3, 444)] == expected
    restored.close()
    assert open_files(config.spill_dir) == {}
