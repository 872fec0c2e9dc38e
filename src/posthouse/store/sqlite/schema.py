"""The SQLite schema, versioned by ``PRAGMA user_version``, and connection setup."""

from __future__ import annotations

import sqlite3
from pathlib import Path

DB_FILE = "posthouse.sqlite3"
BUSY_TIMEOUT_MS = 30_000

_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;

CREATE TABLE domains (name TEXT PRIMARY KEY, catchall TEXT) WITHOUT ROWID;

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids are never reused
    address TEXT NOT NULL UNIQUE,
    domain TEXT NOT NULL REFERENCES domains (name),
    password_hash TEXT NOT NULL,
    quota_bytes INTEGER NOT NULL DEFAULT 0,
    pop3_keep INTEGER NOT NULL DEFAULT 0,
    used_bytes INTEGER NOT NULL DEFAULT 0,   -- kept in step with messages: O(1) quota
    used_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX users_domain ON users (domain);

CREATE TABLE aliases (
    address TEXT PRIMARY KEY,
    domain TEXT NOT NULL REFERENCES domains (name),
    targets TEXT NOT NULL  -- JSON array
) WITHOUT ROWID;
CREATE INDEX aliases_domain ON aliases (domain);

CREATE TABLE mailboxes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    special_use TEXT,
    uidvalidity INTEGER NOT NULL,
    uidnext INTEGER NOT NULL DEFAULT 1,
    highestmodseq INTEGER NOT NULL DEFAULT 1,
    recent_mark INTEGER NOT NULL DEFAULT 0,
    UNIQUE (user_id, name)
);

CREATE TABLE subscriptions (
    user_id INTEGER NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
) WITHOUT ROWID;

CREATE TABLE blobs (
    id TEXT PRIMARY KEY,           -- sha256 hex
    size INTEGER NOT NULL,
    refs INTEGER NOT NULL,         -- message rows + queue entries holding it
    inline INTEGER NOT NULL        -- 1: bytes in blob_data, 0: a file under blobs/
);
CREATE TABLE blob_data (
    id TEXT PRIMARY KEY REFERENCES blobs (id),
    data BLOB NOT NULL
);

CREATE TABLE summaries (
    id INTEGER PRIMARY KEY,        -- also the rowid of the fts row
    blob_id TEXT NOT NULL UNIQUE REFERENCES blobs (id),
    envelope TEXT NOT NULL,
    bodystructure TEXT NOT NULL,
    headers TEXT NOT NULL,         -- JSON object
    sent_date TEXT
);

CREATE TABLE messages (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id),
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    flags TEXT NOT NULL,           -- space-separated
    internaldate TEXT NOT NULL,    -- ISO 8601 with its offset
    savedate TEXT NOT NULL,
    size INTEGER NOT NULL,
    blob_id TEXT NOT NULL REFERENCES blobs (id),
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX messages_blob ON messages (blob_id, mailbox_id);

CREATE TABLE queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    blob_id TEXT NOT NULL REFERENCES blobs (id),
    size INTEGER NOT NULL,
    mail_from TEXT NOT NULL,
    envid TEXT,
    ret TEXT,
    smtputf8 INTEGER NOT NULL,
    body TEXT,
    sender_user_id INTEGER,
    created INTEGER NOT NULL,      -- microseconds since the epoch, UTC
    next_attempt INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    held INTEGER NOT NULL DEFAULT 0,
    delay_warned INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX queue_due ON queue (held, next_attempt);
CREATE INDEX queue_blob ON queue (blob_id);

CREATE TABLE queue_rcpts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id INTEGER NOT NULL REFERENCES queue (id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    state TEXT NOT NULL,
    notify TEXT NOT NULL,          -- comma-separated
    orcpt TEXT,
    last_reply TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX queue_rcpts_queue ON queue_rcpts (queue_id);
"""

# The full-text index over headers and body text, one row per summary. The trigram tokenizer
# (SQLite >= 3.34) gives the substring matching IMAP SEARCH needs (RFC 9051 6.4.4).
_FTS_TRIGRAM = "CREATE VIRTUAL TABLE fts USING fts5 (headers, body, tokenize = 'trigram')"
_FTS_PLAIN = "CREATE VIRTUAL TABLE fts USING fts5 (headers, body)"

MIGRATIONS: tuple[str, ...] = (_V1,)
LATEST_VERSION = len(MIGRATIONS)


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Open a connection in autocommit mode (transactions are explicit) with our pragmas."""
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    if read_only:
        conn.execute("PRAGMA query_only = ON")
    else:
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: every COMMIT is fsynced, so an acknowledged write survives a power loss.
        conn.execute("PRAGMA synchronous = FULL")
    return conn


def _split(script: str) -> list[str]:
    return [stmt.strip() for stmt in script.split(";") if stmt.strip()]


def _has_trigram(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.probe USING fts5 (x, tokenize = 'trigram')")
    except sqlite3.OperationalError:
        return False
    conn.execute("DROP TABLE temp.probe")
    return True


def _create_fts(conn: sqlite3.Connection) -> None:
    trigram = _has_trigram(conn)
    conn.execute(_FTS_TRIGRAM if trigram else _FTS_PLAIN)
    conn.execute("INSERT INTO meta (key, value) VALUES ('fts_trigram', ?)", (int(trigram),))


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to LATEST_VERSION in one transaction; return the version found."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > LATEST_VERSION:
        raise RuntimeError(f"database schema {found} is newer than this program ({LATEST_VERSION})")
    if found == LATEST_VERSION:
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        for version in range(found, LATEST_VERSION):
            for stmt in _split(MIGRATIONS[version]):
                conn.execute(stmt)
            if version == 0:
                _create_fts(conn)
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found


def fts_is_trigram(conn: sqlite3.Connection) -> bool:
    """Whether the full-text index supports substring queries."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'fts_trigram'").fetchone()
    return bool(row and row[0])
