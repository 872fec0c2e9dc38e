"""Content-addressed message blobs on disk (backend-neutral, synchronous functions).

A blob is named by the sha256 hex of its bytes. Small blobs live inline in the database (they
ride the transaction's single fsync); larger ones are files under ``<root>/ab/cd/<sha256>``,
written durably (temp file, fsync, rename, fsync of the directory) before the transaction
that references them is submitted. Callers run these functions off the event loop.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

# Content up to this size is stored inline in the database, where it rides the group commit
# (one fsync for many messages); larger content goes to a file (its own fsyncs).
INLINE_LIMIT = 256 * 1024
TEMP_PREFIX = ".tmp-"
_HEX = frozenset("0123456789abcdef")


def blob_id_of(data: bytes) -> str:
    """The blob id (sha256 hex) of some content."""
    return hashlib.sha256(data).hexdigest()


def is_inline(size: int) -> bool:
    """Whether content of this size is stored inside the database."""
    return size <= INLINE_LIMIT


def is_blob_id(name: str) -> bool:
    """Whether a string looks like a blob id (64 lower-case hex digits)."""
    return len(name) == 64 and set(name) <= _HEX


def blob_path(root: Path, blob_id: str) -> Path:
    """Where a file-backed blob lives."""
    if not is_blob_id(blob_id):
        raise ValueError(f"not a blob id: {blob_id!r}")
    return root / blob_id[:2] / blob_id[2:4] / blob_id


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ensure_dir(path: Path) -> None:
    """Create a directory (and its parents) durably: each new entry's parent is fsynced."""
    if path.is_dir():
        return
    _ensure_dir(path.parent)
    try:
        path.mkdir()
    except FileExistsError:
        return
    fsync_dir(path.parent)


def write_blob_file(root: Path, blob_id: str, data: bytes) -> bool:
    """Write a blob file durably unless it exists already; True if this call wrote it."""
    path = blob_path(root, blob_id)
    if path.exists():
        return False
    _ensure_dir(path.parent)
    replace_durably(path.parent / f"{TEMP_PREFIX}{blob_id}-{secrets.token_hex(8)}", path, data)
    return True


def replace_durably(tmp: Path, dest: Path, data: bytes) -> None:
    """``data`` into ``tmp``, fsync, rename over ``dest``, fsync of the directory; ``tmp`` is
    removed if any step fails, so a crash leaves ``dest`` old or new, never half written."""
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(dest.parent)


def read_blob_file(root: Path, blob_id: str) -> bytes:
    """The bytes of a file-backed blob (FileNotFoundError if it is gone)."""
    return blob_path(root, blob_id).read_bytes()


def blob_file_exists(root: Path, blob_id: str) -> bool:
    """Whether a file-backed blob is on disk."""
    return blob_path(root, blob_id).is_file()


def remove_blob_file(root: Path, blob_id: str) -> None:
    """Unlink a blob file if present (after the commit that dropped its last reference)."""
    blob_path(root, blob_id).unlink(missing_ok=True)


def sweep(root: Path, is_referenced: Callable[[str], bool]) -> int:
    """Delete temp files and blob files nobody references (left by a crash); return the count.

    Run only while no writer is active (at open), since a fresh file is unreferenced until
    its transaction commits.
    """
    removed = 0
    if not root.is_dir():
        return 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.startswith(TEMP_PREFIX) or not (is_blob_id(name) and is_referenced(name)):
                Path(dirpath, name).unlink(missing_ok=True)
                removed += 1
    return removed
