"""The engine of ``posthouse store migrate``: a SQLite data dir into PostgreSQL, and back.

Refused while a server runs on the data dir (store/datalock.py): the lock is taken for the
whole copy, so no server can start on it meanwhile either. The row copy and the verification
are the PostgreSQL backend's (store/postgres/from_sqlite.py); this gives them the MIME parse
(the store never parses) and the progress bars.
"""

from __future__ import annotations

from pathlib import Path

from posthouse.maint.progress import Progress
from posthouse.message.summary import message_text, summarize
from posthouse.store.datalock import DataDirLock
from posthouse.store.postgres.from_sqlite import StoreCopyReport, copy_to_postgres
from posthouse.store.postgres.to_sqlite import copy_to_sqlite

__all__ = ["StoreCopyReport", "migrate_to_postgres", "migrate_to_sqlite"]


async def migrate_to_postgres(data_dir: Path, url: str, progress: Progress) -> StoreCopyReport:
    """Copy and verify (DataDirBusy while a server runs; MigrationRefused for a target that
    is not empty)."""
    lock = DataDirLock(data_dir)
    lock.acquire()
    try:
        return await copy_to_postgres(data_dir, url, summarize=summarize,
                                      message_text=message_text, bar=progress)
    finally:
        lock.release()


async def migrate_to_sqlite(url: str, data_dir: Path, progress: Progress) -> StoreCopyReport:
    """Copy a PostgreSQL store into the empty SQLite store of ``data_dir`` and verify it
    (DataDirBusy while a server runs on it; MigrationRefused if it holds a store). Stop the
    nodes that serve the PostgreSQL store first: a write made during the copy is not in it."""
    lock = _locked(data_dir)
    try:
        return await copy_to_sqlite(url, data_dir, bar=progress)
    finally:
        lock.release()


def _locked(data_dir: Path) -> DataDirLock:
    """The data dir (made if missing, private), locked against a server."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = DataDirLock(data_dir)
    lock.acquire()
    return lock
