"""Load or create the host key file: the one crypto module that touches the disk."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from s5vec.crypto.secp256k1 import HostKey
from s5vec.errors import EncryptionNotSupported

HOST_KEY_FILE_NAME = "host_key"


def load_or_create_host_key(env_value: str | None, data_dir: Path) -> HostKey:
    """Use ``HOST_PRIVATE_KEY`` if set, else ``data_dir/host_key``, creating it (0600) if absent.

    Failures raise EncryptionNotSupported with a message that never holds key material.
    """
    if env_value is not None and env_value.strip():
        try:
            return HostKey.from_hex(env_value)
        except ValueError as exc:
            raise EncryptionNotSupported(f"HOST_PRIVATE_KEY is unusable: {exc}") from None
    path = data_dir / HOST_KEY_FILE_NAME
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        return _create(path)
    except OSError as exc:
        raise EncryptionNotSupported(
            f"Cannot create the host key file {HOST_KEY_FILE_NAME}: {exc.strerror}"
        ) from None


def _read(path: Path) -> HostKey:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError):
        raise EncryptionNotSupported(f"Cannot read the host key file {path.name}") from None
    try:
        return HostKey.from_hex(text)
    except ValueError as exc:
        raise EncryptionNotSupported(f"The host key file {path.name} is unusable: {exc}") from None


def _create(path: Path) -> HostKey:
    """Write a new key to a private temp file, then link it into place atomically."""
    key = HostKey.generate()
    # mkstemp opens with mode 0600, so the key is never readable by others, even briefly.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key.export_private_key_hex() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            # link, unlike replace, fails if another process created the key meanwhile.
            os.link(tmp_name, path)
        except FileExistsError:
            return _read(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
    return key
