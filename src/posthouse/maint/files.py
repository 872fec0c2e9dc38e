"""Durable file writes and hashing for backups and restores.

Every file is written to a temp name in its directory, fsynced, renamed into place, and the
directory fsynced: after a crash a file is either whole or absent, never half written.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from posthouse.store.blobs import fsync_dir, replace_durably

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class FileDigest:
    """A file's sha256 (hex) and size in bytes."""

    sha256: str
    size: int


def digest(path: Path) -> FileDigest:
    """Hash a file in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return FileDigest(h.hexdigest(), size)


def write_durably(dest: Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` (temp, fsync, rename, fsync of the directory)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    replace_durably(dest.with_name(f".tmp-{dest.name}"), dest, data)


def copy_durably(src: Path, dest: Path) -> FileDigest:
    """Copy a file durably, hashing what was written."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".tmp-{dest.name}")
    h = hashlib.sha256()
    size = 0
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(dest.parent)
    return FileDigest(h.hexdigest(), size)


def fsync_file(path: Path) -> None:
    """fsync a file written by someone else (SQLite's copy)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every directory under root, deepest first, so every new entry is durable."""
    for folder, _dirs, _files in os.walk(root, topdown=False):
        fsync_dir(Path(folder))
