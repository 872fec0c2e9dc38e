"""WAL checkpoints on a thread of their own, so no delivery's commit ever pays for one.

With SQLite's automatic checkpoint, the commit that pushes the WAL past 1,000 pages copies
them all into the database file and fsyncs it before the writer moves on: every few dozen
messages one delivery waits for megabytes of I/O. The writer connection turns that off
(``wal_autocheckpoint = 0``) and this thread runs PASSIVE checkpoints instead, shortly after
commits, on its own connection: they never block the writer or readers (SQLite copies only
frames no reader still needs). Frames committed while one runs stay behind, so the WAL could
never start over under steady load: the writer itself checkpoints that short tail when idle
now and then (writer.RESTART_EVERY), after which its next write starts the WAL afresh.

While space is tight (store/space.py) the checkpoint is TRUNCATE: the WAL is copied and cut
to nothing, so it does not hold space the mail needs. It waits for no one (busy_timeout 0):
if a reader or the writer is in the way it simply runs again after the next commit.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from posthouse.store.space import SpaceGuard
from posthouse.store.sqlite import schema

PAUSE_SECONDS = 0.25  # at most one checkpoint per pause: batches the copying under load
IDLE_SECONDS = 5.0  # without commits, look again this often (readers may have held frames)


class Checkpointer:
    """The checkpoint thread of one store."""

    def __init__(self, db_path: Path, *, space: SpaceGuard | None = None) -> None:
        self._db_path = db_path
        self._space = space
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="posthouse-checkpointer", daemon=True
        )
        self.checkpoints = 0  # checkpoints run (for tests)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def committed(self) -> None:
        """The writer committed: the WAL has grown."""
        self._wake.set()

    def stop(self) -> None:
        """End the thread (blocking); closing the last connection checkpoints the rest."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        conn = schema.connect(self._db_path)
        truncating = False
        try:
            while not self._stop.is_set():
                self._wake.wait(IDLE_SECONDS)
                if self._stop.is_set():
                    break
                self._wake.clear()
                tight = self._space is not None and self._space.tight()
                try:
                    if tight != truncating:  # a TRUNCATE must not wait (module docstring)
                        timeout = 0 if tight else schema.BUSY_TIMEOUT_MS
                        conn.execute(f"PRAGMA busy_timeout = {timeout}")
                        truncating = tight
                    mode = "TRUNCATE" if tight else "PASSIVE"
                    conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error:
                    pass  # busy or failing disk: the WAL keeps everything; try again later
                self._stop.wait(PAUSE_SECONDS)
        finally:
            conn.close()
