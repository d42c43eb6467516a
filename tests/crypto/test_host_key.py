"""The host key file: created once with mode 0600, reused after, overridden by the env value."""

import os
import stat
from pathlib import Path

import pytest

from s5vec.crypto import host_key
from s5vec.crypto.host_key import HOST_KEY_FILE_NAME, load_or_create_host_key
from s5vec.crypto.secp256k1 import HostKey
from s5vec.errors import EncryptionNotSupported

ENV_KEY_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_creates_a_private_key_file_and_reuses_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    first = load_or_create_host_key(None, data_dir)
    key_file = data_dir / HOST_KEY_FILE_NAME
    assert _mode(key_file) == 0o600
    content = key_file.read_text()
    assert HostKey.from_hex(content).public_key_compressed == first.public_key_compressed

    second = load_or_create_host_key(None, data_dir)
    assert second.public_key_compressed == first.public_key_compressed
    assert key_file.read_text() == content
    assert sorted(p.name for p in data_dir.iterdir()) == [HOST_KEY_FILE_NAME]


def test_file_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        load_or_create_host_key(None, tmp_path)
    finally:
        os.umask(previous)
    assert _mode(tmp_path / HOST_KEY_FILE_NAME) == 0o600


def test_empty_env_value_falls_back_to_the_file(tmp_path: Path) -> None:
    load_or_create_host_key("  ", tmp_path)
    assert (tmp_path / HOST_KEY_FILE_NAME).exists()


def test_env_value_wins_and_writes_nothing(tmp_path: Path) -> None:
    key = load_or_create_host_key("0x" + ENV_KEY_HEX, tmp_path)
    assert key.export_private_key_hex() == ENV_KEY_HEX
    assert list(tmp_path.iterdir()) == []


def test_invalid_env_value_is_encryption_not_supported_without_the_value(tmp_path: Path) -> None:
    bad = ENV_KEY_HEX[:-3]
    with pytest.raises(EncryptionNotSupported, match="HOST_PRIVATE_KEY") as info:
        load_or_create_host_key(bad, tmp_path)
    assert bad not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_key_file_is_reported_without_its_content(tmp_path: Path) -> None:
    corrupt = ENV_KEY_HEX[:40] + "not hex"
    (tmp_path / HOST_KEY_FILE_NAME).write_text(corrupt)
    with pytest.raises(EncryptionNotSupported) as info:
        load_or_create_host_key(None, tmp_path)
    assert ENV_KEY_HEX[:40] not in str(info.value)
    assert (tmp_path / HOST_KEY_FILE_NAME).read_text() == corrupt


def test_unusable_data_dir_is_encryption_not_supported(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(EncryptionNotSupported):
        load_or_create_host_key(None, not_a_dir)


def test_a_key_created_concurrently_is_kept_not_overwritten(tmp_path: Path) -> None:
    # Stands in for another process winning the race between the read and the link.
    winner = HostKey.generate()
    key_file = tmp_path / HOST_KEY_FILE_NAME
    key_file.write_text(winner.export_private_key_hex())
    loser = host_key._create(key_file)
    assert loser.public_key_compressed == winner.public_key_compressed
    assert HostKey.from_hex(key_file.read_text()).public_key_compressed == (
        winner.public_key_compressed
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [HOST_KEY_FILE_NAME]
