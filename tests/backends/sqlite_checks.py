"""Integrity checks of a SQLite store's files, and a runner, for the SQLite-specific tests."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from posthouse.store import blobs
from posthouse.store.sqlite.backend import SqliteStore
from posthouse.store.sqlite.schema import DB_FILE
from posthouse.store.sqlite.searchdb import SEARCH_DB_FILE
from tests.support.stores import sqlite_store

T = TypeVar("T")
# SQL that takes a database of today back to before schema v10 (the address rows of SEARCH
# FROM/TO/CC/BCC), and before v9 (the mailbox counters), for tests that fake an older
# version from a fresh store.
UNDO_V10 = "DROP TRIGGER summaries_addresses_delete; DROP TABLE summary_addresses;"
UNDO_V9 = UNDO_V10 + (
    " DROP TRIGGER messages_counts_insert; DROP TRIGGER messages_counts_delete;"
    " DROP TRIGGER messages_counts_update;"
    + "".join(f" ALTER TABLE mailboxes DROP COLUMN {column};" for column in (
        "msg_count", "unseen_count", "deleted_count", "size_total", "recent_count"))
)


def run(data_dir: Path, body: Callable[[SqliteStore], Awaitable[T]], *,
        auto_index: bool = True) -> T:
    """Open a SqliteStore on data_dir, await the body, close it."""

    async def main() -> T:
        store = sqlite_store(data_dir, auto_index=auto_index)
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(main())


def query(data_dir: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run one read-only query on the store's database."""
    conn = sqlite3.connect(f"file:{data_dir / DB_FILE}?mode=ro", uri=True)
    search = data_dir / SEARCH_DB_FILE
    if search.exists():
        conn.execute("ATTACH DATABASE ? AS idx", (f"file:{search}?mode=ro",))
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def blob_files(data_dir: Path) -> set[str]:
    """Names of every file under blobs/ (temp files included)."""
    return {p.name for p in (data_dir / "blobs").rglob("*") if p.is_file()}


def integrity_problems(data_dir: Path) -> list[str]:
    """Everything wrong with the store on disk; empty when it is consistent."""
    problems: list[str] = []
    checks = {
        "integrity_check": "SELECT * FROM pragma_integrity_check WHERE integrity_check != 'ok'",
        "message without blob": "SELECT m.mailbox_id, m.uid FROM messages m"
        " LEFT JOIN blobs b ON b.id = m.blob_id WHERE b.id IS NULL",
        "message without summary": "SELECT m.mailbox_id, m.uid FROM messages m"
        " LEFT JOIN summaries s ON s.blob_id = m.blob_id WHERE s.id IS NULL",
        # The index (its own file) may lag behind, never be wrong: summaries up to "upto" are
        # in it, and rows of removed summaries wait in fts_gone for the indexer.
        "indexed summary without fts row": "SELECT s.id FROM summaries s"
        " LEFT JOIN idx.fts f ON f.rowid = s.id WHERE f.rowid IS NULL"
        " AND s.id <= (SELECT value FROM idx.meta WHERE key = 'upto')",
        "fts row of a removed summary not in fts_gone": "SELECT f.rowid FROM idx.fts f"
        " LEFT JOIN summaries s ON s.id = f.rowid LEFT JOIN fts_gone g ON g.id = f.rowid"
        " WHERE s.id IS NULL AND g.id IS NULL",
        # SEARCH FROM/TO/CC/BCC read one address row per summary (schema v10)
        "summary without address row": "SELECT s.id FROM summaries s"
        " LEFT JOIN summary_addresses a ON a.id = s.id WHERE a.id IS NULL",
        "address row without summary": "SELECT a.id FROM summary_addresses a"
        " LEFT JOIN summaries s ON s.id = a.id WHERE s.id IS NULL",
        "inline blob without data": "SELECT b.id FROM blobs b"
        " LEFT JOIN blob_data d ON d.id = b.id WHERE b.inline = 1 AND d.id IS NULL",
        "wrong refcount": "SELECT b.id FROM blobs b WHERE b.refs !="
        " (SELECT count(*) FROM messages m WHERE m.blob_id = b.id)"
        " + (SELECT count(*) FROM queue q WHERE q.blob_id = b.id)",
        "unreferenced blob": "SELECT id FROM blobs WHERE refs <= 0",
        "wrong usage": "SELECT u.id FROM users u WHERE u.used_bytes != (SELECT coalesce(sum("
        "m.size), 0) FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id"
        " WHERE x.user_id = u.id) OR u.used_count != (SELECT count(*) FROM messages m"
        " JOIN mailboxes x ON x.id = m.mailbox_id WHERE x.user_id = u.id)",
        "uid not below uidnext": "SELECT m.uid FROM messages m JOIN mailboxes x"
        " ON x.id = m.mailbox_id WHERE m.uid >= x.uidnext OR m.modseq > x.highestmodseq",
        # schema v9: the STATUS counters equal a recount of the rows
        "wrong mailbox counters": "SELECT x.id FROM mailboxes x WHERE"
        " (x.msg_count, x.unseen_count, x.deleted_count, x.size_total, x.recent_count) IS NOT"
        " (SELECT count(*), coalesce(sum(instr(' ' || m.flags || ' ', ' \\Seen ') = 0), 0),"
        " coalesce(sum(instr(' ' || m.flags || ' ', ' \\Deleted ') > 0), 0),"
        " coalesce(sum(m.size), 0), coalesce(sum(m.uid > x.recent_mark), 0)"
        " FROM messages m WHERE m.mailbox_id = x.id)",
    }
    for name, sql in checks.items():
        rows = query(data_dir, sql)
        if rows:
            problems.append(f"{name}: {rows[:5]}")
    file_ids = {str(row[0]) for row in query(data_dir, "SELECT id FROM blobs WHERE inline = 0")}
    on_disk = blob_files(data_dir)
    if file_ids - on_disk:
        problems.append(f"blob rows without file: {sorted(file_ids - on_disk)[:5]}")
    if on_disk - file_ids:
        problems.append(f"orphan files: {sorted(on_disk - file_ids)[:5]}")
    for blob_id in file_ids & on_disk:
        data = blobs.read_blob_file(data_dir / "blobs", blob_id)
        if blobs.blob_id_of(data) != blob_id:
            problems.append(f"corrupt blob file {blob_id}")
    return problems
