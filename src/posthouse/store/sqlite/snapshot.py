"""Consistent copies of a live store's database files, and what a copy references.

Used by ``posthouse backup`` (posthouse/maint): each file is copied with SQLite's online
backup API inside one read transaction (schema.copy_database), so the copy is one committed
state while the server keeps serving. The search index is copied first: whatever the store
commits after that is simply "pending" for the index of the copy (searchdb.py), never the
other way round. Never writes to the live files.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from posthouse.store.sqlite import holds, schema, searchdb
from posthouse.store.sqlite.writer import WriteContext


@dataclass(frozen=True, slots=True)
class SnapshotFacts:
    """What a copied database holds and references."""

    schema_version: int
    store_id: str
    file_blobs: dict[str, int]  # id -> size of every blob kept as a file
    messages: int
    users: int


def copy_live(src: Path, dest: Path) -> None:
    """Copy a live SQLite file (the store or its search index) consistently to ``dest``."""
    conn = schema.connect(src, read_only=True)
    try:
        schema.copy_database(conn, dest)
    finally:
        conn.close()


def settle_copy(path: Path, search_copy: Path, now: datetime) -> SnapshotFacts:
    """Make a copied store self-contained and describe it.

    Blob references held for open IMAP views (holds.py) are counted from the rows, as a
    server's open() would, so the copy verifies clean; it stays one file (no WAL).
    Index rows of summaries removed between the two copies are listed in ``fts_gone`` for
    the indexer, as a live removal is. The copy's file blobs are then listed: exactly what a
    backup must carry beside it."""
    conn = schema.connect(path)
    try:
        if search_copy.exists():
            conn.execute("ATTACH DATABASE ? AS idx", (str(search_copy),))
        conn.execute("BEGIN IMMEDIATE")
        try:
            holds.recount(WriteContext(conn, path.parent, now))
            if search_copy.exists():
                conn.execute("INSERT OR IGNORE INTO fts_gone (id) SELECT rowid FROM idx.fts"
                             " WHERE rowid NOT IN (SELECT id FROM summaries)")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if search_copy.exists():
            conn.execute("DETACH DATABASE idx")
        conn.execute("PRAGMA journal_mode = DELETE")  # one file, no -wal beside it
        return describe(conn)
    finally:
        conn.close()


def describe(conn: sqlite3.Connection) -> SnapshotFacts:
    """The facts of an open store database."""
    return SnapshotFacts(
        schema_version=schema.schema_version(conn),
        store_id=schema.store_id(conn),
        file_blobs={row[0]: int(row[1]) for row in conn.execute(
            "SELECT id, size FROM blobs WHERE inline = 0")},
        messages=int(conn.execute("SELECT count(*) FROM messages").fetchone()[0]),
        users=int(conn.execute("SELECT count(*) FROM users").fetchone()[0]),
    )


def search_store_id(path: Path) -> str | None:
    """The store id a copied search index belongs to (None: not an index file)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
        return None if row is None else str(row[0])
    except sqlite3.Error:
        return None
    finally:
        conn.close()


DB_FILES = (schema.DB_FILE, searchdb.SEARCH_DB_FILE)
