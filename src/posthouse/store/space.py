"""The free space of the data directory's filesystem, and what the store may do with it.

Owns the low-space threshold (``[limits] min_free_bytes``) and the state it implies; logs one
WARNING when space becomes short and one INFO when it comes back, never a line per message.
It never writes, deletes or reserves anything itself; backend-neutral.

Three states, from the free bytes ``f`` and the threshold ``m``:

- roomy (``f >= 2m``): everything runs; a reading is reused for CACHE_SECONDS, less the
  sizes admitted since (so a burst of mail cannot outrun a stale reading);
- tight (``m <= f < 2m``): mail is still taken, but background work that grows the files
  (the search indexer, a long write-ahead log) waits or stays small; read on every call;
- short (``f < m``): new mail is refused (StorageFull) before anything is written, so the
  reserve ``m`` is left for what the store has already acknowledged (summaries filed after
  the commit, flag changes, queue state, checkpoints).

A real ENOSPC/SQLITE_FULL (``note_full``) makes the state short at once, whatever the
threshold. It ends once at least ``max(m, RECOVERY_MIN_BYTES)`` are free and RECOVERY_MIN_BYTES
more than when the write failed, or after ERROR_HOLD_SECONDS (a quota that statvfs cannot see
leaves the free bytes as they were: the next write tries again, and fails again at most once
per hold). With ``m = 0`` the threshold is off and only such an error refuses mail.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from posthouse.store.errors import StorageFull

CACHE_SECONDS = 1.0  # a roomy reading is reused this long: a statvfs per second, not per message
RECOVERY_MIN_BYTES = 1 << 20  # after a real "disk full", at least this much must be free again
ERROR_HOLD_SECONDS = 60.0  # ... or this long must have passed
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
log = logging.getLogger("posthouse.store")

StatVfs = Callable[[Path], os.statvfs_result]


def is_full_error(exc: BaseException) -> bool:
    """Whether an OS or SQLite error means the filesystem is full (ENOSPC, EDQUOT,
    SQLITE_FULL), also when it is the cause of another error."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _FULL_ERRNOS:
            return True
        if isinstance(seen, sqlite3.Error) and (
                getattr(seen, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL):
            return True
        seen = seen.__cause__
    return False


def _statvfs(path: Path) -> os.statvfs_result:
    return os.statvfs(path)


class SpaceGuard:
    """Free space of one directory's filesystem against a threshold (thread-safe)."""

    def __init__(
        self,
        path: Path,
        *,
        min_free_bytes: int,
        statvfs: StatVfs = _statvfs,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min_free_bytes < 0:
            raise ValueError("min_free_bytes must not be negative")
        self.path = Path(path)
        self.min_free_bytes = min_free_bytes
        self._statvfs = statvfs
        self._clock = clock
        self._lock = threading.Lock()
        self._free: int | None = None  # the last reading (None: none yet, or unreadable)
        self._read_at = float("-inf")
        self._short = False
        self._after_error = False  # short because a write failed, not by the threshold
        self._error_free = 0  # the free bytes when that write failed
        self._error_at = float("-inf")

    # --- questions ----------------------------------------------------------------------

    def check(self, size: int) -> None:
        """Raise StorageFull unless ``size`` more bytes leave the threshold free; if they do,
        count them as used until the next reading."""
        self._admit(size, take=True)

    def has_room(self, size: int = 0) -> bool:
        """Whether ``check(size)`` would pass (a question: nothing is counted)."""
        try:
            self._admit(size, take=False)
        except StorageFull:
            return False
        return True

    def _admit(self, size: int, *, take: bool) -> None:
        with self._lock:
            free = self._read()
            if free is None:
                return  # cannot tell: let the write itself find out
            if self._short:
                raise StorageFull(f"insufficient storage: {free} bytes free on {self.path}")
            if free - size < self.min_free_bytes:
                raise StorageFull(f"insufficient storage for {size} bytes: {free} bytes free "
                                  f"on {self.path}, min_free_bytes is {self.min_free_bytes}")
            if take:
                self._free = free - size  # a cached reading counts it as used

    def tight(self) -> bool:
        """Whether background work should wait and keep its files small (tight or short)."""
        with self._lock:
            free = self._read()
            if self._short:
                return True
            return free is not None and free < 2 * self.min_free_bytes

    @property
    def short(self) -> bool:
        """Whether new mail is refused now (as of the last reading)."""
        with self._lock:
            self._read()
            return self._short

    # --- news ---------------------------------------------------------------------------

    def note_full(self, exc: BaseException) -> None:
        """A write failed because the filesystem is full: short from now on."""
        with self._lock:
            self._read_at = float("-inf")  # read afresh next time
            free = self._read()
            self._after_error = True
            self._error_free = free or 0
            self._error_at = self._clock()
            if not self._short:
                self._short = True
                log.warning("disk full: a write failed (%s); %s bytes free on %s; refusing new "
                            "mail (452 4.3.1) until at least %d bytes are free",
                            exc, "?" if free is None else free, self.path, self._floor())

    # --- inside the lock ----------------------------------------------------------------

    def _floor(self) -> int:
        """The free bytes below which the state is (or stays) short."""
        if self._after_error:
            return max(self.min_free_bytes, RECOVERY_MIN_BYTES)
        return self.min_free_bytes

    def _read(self) -> int | None:
        """The free bytes, read again unless a roomy reading is fresh; updates the state."""
        now = self._clock()
        free = self._free
        if (free is not None and not self._short and free >= 2 * self.min_free_bytes
                and now - self._read_at < CACHE_SECONDS):
            return free
        try:
            st = self._statvfs(self.path)
        except OSError:
            self._free = None
            return None
        free = self._free = st.f_bavail * st.f_frsize
        self._read_at = now
        self._update(free)
        return free

    def _recovered(self, free: int) -> bool:
        if free < self._floor():
            return False
        if not self._after_error:
            return True
        return (free >= self._error_free + RECOVERY_MIN_BYTES
                or self._clock() - self._error_at >= ERROR_HOLD_SECONDS)

    def _update(self, free: int) -> None:
        if self._short and self._recovered(free):
            self._short = self._after_error = False
            log.info("disk space recovered: %d bytes free on %s; taking new mail again",
                     free, self.path)
        elif not self._short and free < self.min_free_bytes:
            self._short = True
            log.warning("disk full: %d bytes free on %s, below min_free_bytes (%d); refusing "
                        "new mail (452 4.3.1) until space is freed", free, self.path,
                        self.min_free_bytes)
