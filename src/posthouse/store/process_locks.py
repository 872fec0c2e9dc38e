"""Locks between the worker processes of one server: one byte of a file per thing locked.

A POSIX record lock (``fcntl.lockf``) on byte ``n`` of a file in the data dir's private
run/ directory. The kernel drops a process's locks when it dies, so a crashed worker never
leaves one behind. Record locks belong to the process, not to a file descriptor or thread:
the process that holds byte ``n`` may take it again, and only other processes are kept out
(callers that must also exclude their own sessions keep a set of their own). The file is
opened once and kept open: closing any descriptor of it would drop every lock of the
process on it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class ByteLocks:
    """Non-blocking exclusive locks on the bytes of one file."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def try_lock(self, n: int) -> bool:
        """Take byte ``n``; False if another process holds it."""
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, n, os.SEEK_SET)
        except OSError:  # EAGAIN/EACCES: held elsewhere
            return False
        return True

    def unlock(self, n: int) -> None:
        """Give byte ``n`` back (nothing happens if this process does not hold it)."""
        fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, n, os.SEEK_SET)

    def close(self) -> None:
        """Drop every lock of this process on the file."""
        os.close(self._fd)
