"""The engine of ``posthouse store migrate``: a SQLite data dir into PostgreSQL.

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
from posthouse.store.postgres.from_sqlite import MigrationReport, copy_to_postgres


async def migrate_to_postgres(data_dir: Path, url: str, progress: Progress) -> MigrationReport:
    """Copy and verify (DataDirBusy while a server runs; MigrationRefused for a target that
    is not empty)."""
    lock = DataDirLock(data_dir)
    lock.acquire()
    try:
        return await copy_to_postgres(data_dir, url, summarize=summarize,
                                      message_text=message_text, bar=progress)
    finally:
        lock.release()
