"""The lock a running server holds on its data directory (backend-neutral, synchronous).

``posthouse serve`` (the App) takes an exclusive ``flock`` on ``<data_dir>/posthouse.lock``
before it opens the store and keeps it until the store is closed; the file also names the
holder's pid for people. The kernel drops the lock when the process dies, so a crash never
leaves a stale lock behind. Admin commands that must not run beside a server (``restore``,
``verify --repair``) ask ``held_by`` first; a second server on the same data dir is refused.

Never used for the store's own consistency (SQLite locks its files itself): it only tells
whether a server serves this directory.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from posthouse.store.errors import StoreError

LOCK_FILE = "posthouse.lock"
# What a server's worker processes share while it runs (sockets, lock files): nothing in it
# outlives the server, so backups skip it (cli/workers.py makes it).
RUN_DIR = "run"


class DataDirBusy(StoreError):
    """Another process serves this data directory."""


class DataDirLock:
    """An exclusive lock on a data directory, held from ``acquire`` to ``release``."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise DataDirBusy (naming the holder's pid when it is known)."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = _read_pid(self.path)
            who = f" (pid {pid})" if pid else ""
            raise DataDirBusy(f"data directory {self.path.parent} is in use by a running "
                              f"posthouse server{who}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Give the lock back (the file stays: unlinking it would race a new holder)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def held_by(data_dir: Path) -> int | None:
    """The pid of the server holding the data dir's lock (0 if unknown), None if free."""
    path = Path(data_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(path) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None
