"""One POP3 session per maildrop (RFC 1939 8: the server must lock the maildrop).

``HeldMaildrop`` is what ``Store.lock_maildrop`` hands a POP3 session that got the lock; the
session releases it at QUIT or when the connection ends, always in a ``finally``.
``LocalMaildropLocks`` is the lock of one process (the SQLite store: one server per data
dir): plain bookkeeping in memory, so a crashed session or a restarted server cannot leave
one behind. ``SharedMaildropLocks`` adds the other worker processes of the same server
(``[server] workers``): a POSIX record lock on one byte per user id of a file in the data
dir's private run/ directory, which the kernel drops when the process dies. The PostgreSQL
store locks across nodes instead (store/postgres/maildrop.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from posthouse.store.process_locks import ByteLocks


class HeldMaildrop(Protocol):
    """A maildrop lock a session holds."""

    async def release(self) -> None:
        """Give it back; idempotent."""


class _LocalHold:
    def __init__(self, locks: LocalMaildropLocks, user_id: int) -> None:
        self._locks = locks
        self._user_id = user_id

    async def release(self) -> None:
        self._locks.release(self._user_id)


class LocalMaildropLocks:
    """User ids whose maildrop a POP3 session of this process holds."""

    def __init__(self) -> None:
        self._held: set[int] = set()

    def try_acquire(self, user_id: int) -> HeldMaildrop | None:
        """Take the lock; None if another session holds it ([IN-USE])."""
        if user_id in self._held:
            return None
        self._held.add(user_id)
        return _LocalHold(self, user_id)

    def release(self, user_id: int) -> None:
        """Give it back; idempotent."""
        self._held.discard(user_id)


class SharedMaildropLocks(LocalMaildropLocks):
    """This process's locks, also held against the server's other worker processes.

    Record locks belong to the process (two sessions of one process would both get the same
    byte), so the set in memory still decides between this process's sessions; the byte at
    offset ``user_id`` (store/process_locks.py) decides between processes."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._bytes = ByteLocks(path)

    def try_acquire(self, user_id: int) -> HeldMaildrop | None:
        """Take the lock here and across processes; None if anyone holds it."""
        if user_id in self._held or not self._bytes.try_lock(user_id):
            return None
        return super().try_acquire(user_id)

    def release(self, user_id: int) -> None:
        """Give it back; idempotent."""
        if user_id in self._held:
            self._bytes.unlock(user_id)
        super().release(user_id)
