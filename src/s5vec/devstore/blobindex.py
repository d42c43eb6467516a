"""Which file under the dev store's root holds which BLAKE3 hash, so blobs can be served by CID.

The index lives in memory. It is built when the store starts, by hashing every file under
the root (reserved ``.s5vec-*`` names, symlinks and names that are not valid S5 paths are
skipped), and a ``PUT`` records the hash it computed anyway. Files written into the directory
directly while the store runs (``s5vec publish --store DIR``) are found by ``refresh``, which
the blob route calls on a miss: it walks the tree again and re-hashes only the files whose
inode, size or modification time changed since they were hashed.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import blake3

from s5vec.errors import PermanentStorageError
from s5vec.storage.paths import is_reserved, split_path

Signature = tuple[int, int, int]
"""A file's inode, size and modification time (ns): if all three match, so does its hash."""


@dataclass(frozen=True, slots=True)
class Hashed:
    """A file's BLAKE3 hash and the signature it had when hashed (None: hash again)."""

    digest: bytes
    signature: Signature | None


def _digest(file: Path) -> bytes:
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(file)
    return hasher.digest()


def _s5_files(root: Path) -> list[tuple[str, Path]]:
    """``(S5 path, file)`` for every regular file the ``local`` backend would serve."""
    found: list[tuple[str, Path]] = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if not is_reserved(name)]
        parts = Path(directory).relative_to(root).parts
        for name in names:
            path = "/".join((*parts, name))
            try:
                split_path(path)
            except PermanentStorageError:
                continue
            found.append((path, Path(directory, name)))
    return found


def scan(root: Path, known: Mapping[str, Hashed]) -> dict[str, Hashed]:
    """Hash every file under ``root``, reusing ``known`` hashes of unchanged files."""
    hashed: dict[str, Hashed] = {}
    for path, file in _s5_files(root):
        try:
            # Stat before hashing: a file changed while hashed gets a newer signature later.
            info = file.lstat()
            if not stat.S_ISREG(info.st_mode):
                continue
            signature = (info.st_ino, info.st_size, info.st_mtime_ns)
            previous = known.get(path)
            if previous is not None and previous.signature == signature:
                hashed[path] = previous
            else:
                hashed[path] = Hashed(_digest(file), signature)
        except OSError:
            continue  # removed or unreadable while scanning: not served
    return hashed


class BlobIndex:
    """BLAKE3 hash to S5 path for the files under ``root``."""

    def __init__(self, root: Path) -> None:
        """An empty index over ``root``; ``refresh`` fills it."""
        self._root = root
        self._files: dict[str, Hashed] = {}
        self._paths: dict[bytes, str] = {}
        self._lock = asyncio.Lock()

    def path_for(self, digest: bytes) -> str | None:
        """The S5 path of a file with this hash when last seen, if any."""
        return self._paths.get(digest)

    def record(self, path: str, digest: bytes) -> None:
        """Note that ``path`` was just written with content hashing to ``digest``."""
        old = self._files.get(path)
        if old is not None and self._paths.get(old.digest) == path:
            del self._paths[old.digest]
        # No signature: a concurrent write may already have replaced the file, so the next
        # refresh hashes it again rather than trust this digest.
        self._files[path] = Hashed(digest, None)
        self._paths[digest] = path

    async def refresh(self) -> None:
        """Walk the root again and hash what changed (in a worker thread)."""
        async with self._lock:
            files = await asyncio.to_thread(scan, self._root, dict(self._files))
            self._files = files
            self._paths = {entry.digest: path for path, entry in files.items()}
