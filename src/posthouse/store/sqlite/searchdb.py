"""The search database: the full-text index, kept in its own SQLite file beside the store.

The index is derived data. Keeping it in a file of its own means building it never holds the
store's write lock: deliveries commit without touching it, and the indexer thread
(indexer.py) catches up when the store is quiet. Its rows are keyed by ``summaries.id``
(AUTOINCREMENT, never reused), and ``meta.upto`` says which summaries are in: every id at or
below it, committed in the same transaction as their rows. A summary above ``upto`` is
"pending" and SEARCH scans it directly (search.py), so results never depend on the lag.

A lost or foreign search file is simply rebuilt: ``meta.store_id`` must match the store's.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from posthouse.store.sqlite.schema import BUSY_TIMEOUT_MS

SEARCH_DB_FILE = "search.sqlite3"
SCHEMA_VERSION = 1
# The trigram tokenizer (SQLite >= 3.34) gives the substring matching IMAP SEARCH needs
# (RFC 9051 6.4.4); without it the index holds words and only narrows nothing (see search.py).
_FTS_TRIGRAM = "CREATE VIRTUAL TABLE fts USING fts5 (headers, body, tokenize = 'trigram')"
_FTS_PLAIN = "CREATE VIRTUAL TABLE fts USING fts5 (headers, body)"
# The WAL is cut to this size when it starts over: an index batch (indexer.BATCH_CHARS) needs
# a few megabytes at most, and the file never keeps what one large catch-up once took.
WAL_LIMIT_BYTES = 8 << 20


def connect_search(path: Path) -> sqlite3.Connection:
    """A writable connection to the search file (the indexer's)."""
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL: a power loss may take the last index commits back, never the store's mail;
    # ``upto`` rolls back with the rows, and the indexer simply does them again.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
    return conn


def has_trigram(conn: sqlite3.Connection) -> bool:
    """Whether this SQLite has FTS5's trigram tokenizer."""
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.probe USING fts5 (x, tokenize = 'trigram')")
    except sqlite3.OperationalError:
        return False
    conn.execute("DROP TABLE temp.probe")
    return True


def _meta(conn: sqlite3.Connection, key: str) -> object:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.DatabaseError:
        return None  # no meta table: an empty or foreign file
    return None if row is None else row[0]


def prepare_search_file(path: Path, store_id: str) -> bool:
    """Make the search file belong to this store (creating it afresh if needed).

    Returns whether it uses trigrams. A file of another store or version, or one SQLite
    cannot read, is replaced by an empty index (everything is pending again).
    """
    usable = False
    try:
        conn = connect_search(path)
        try:
            usable = (_meta(conn, "store_id") == store_id
                      and _meta(conn, "version") == SCHEMA_VERSION)
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        pass  # not a database at all: replaced below
    if not usable:
        for leftover in (path, path.with_name(path.name + "-wal"),
                         path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        conn = connect_search(path)
        try:
            _create(conn, store_id)
        finally:
            conn.close()
    conn = connect_search(path)
    try:
        return bool(_meta(conn, "trigram"))
    finally:
        conn.close()


def _create(conn: sqlite3.Connection, store_id: str) -> None:
    trigram = has_trigram(conn)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID")
    conn.execute(_FTS_TRIGRAM if trigram else _FTS_PLAIN)
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [("store_id", store_id), ("version", SCHEMA_VERSION), ("trigram", int(trigram)),
         ("upto", 0)],
    )
    conn.execute("COMMIT")


_UPTO = {
    "main": "SELECT value FROM main.meta WHERE key = 'upto'",
    "idx": "SELECT value FROM idx.meta WHERE key = 'upto'",
}


def indexed_upto(conn: sqlite3.Connection, schema: str = "main") -> int:
    """The highest summary id whose rows are in the index (all below it are too);
    ``schema`` is "main" on the indexer's connection, "idx" where the file is attached."""
    row = conn.execute(_UPTO[schema]).fetchone()
    return int(row[0]) if row else 0
