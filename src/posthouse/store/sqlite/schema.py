"""The SQLite schema, versioned by ``PRAGMA user_version``, and connection setup."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from posthouse.store.sqlite.codec import stored_header_lc

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

CREATE VIRTUAL TABLE fts USING fts5 (headers, body);  -- moved out in version 2
"""

# Version 2: the full-text index moves to its own file (searchdb.py), built after the
# commit instead of inside it. Summary ids become AUTOINCREMENT (never reused), since the
# index refers to them from the other file; removed summaries are listed in fts_gone until
# the indexer drops their rows. store_id ties the search file to this database.
_V2 = """
CREATE TABLE summaries_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- the rowid of its row in the search index
    blob_id TEXT NOT NULL UNIQUE REFERENCES blobs (id),
    envelope TEXT NOT NULL,
    bodystructure TEXT NOT NULL,
    headers TEXT NOT NULL,                 -- JSON object
    sent_date TEXT
);
INSERT INTO summaries_v2 (id, blob_id, envelope, bodystructure, headers, sent_date)
    SELECT id, blob_id, envelope, bodystructure, headers, sent_date FROM summaries;
DROP TABLE summaries;
ALTER TABLE summaries_v2 RENAME TO summaries;
DROP TABLE fts;
DELETE FROM meta WHERE key = 'fts_trigram';
CREATE TABLE fts_gone (id INTEGER PRIMARY KEY);
INSERT INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))));
"""

# Version 3: SCRAM-SHA-256 secrets (RFC 5802 3, RFC 5803 text form) beside the argon2 hash.
# Accounts of older databases have none until their next password login fills them in.
_V3 = """
ALTER TABLE users ADD COLUMN scram_secrets TEXT;
"""

# Version 4: the REQUIRETLS flag of a queued message (RFC 8689 4): relayed only over TLS
# with a validated certificate, to hops that offer REQUIRETLS.
_V4 = """
ALTER TABLE queue ADD COLUMN requiretls INTEGER NOT NULL DEFAULT 0;
"""

# Version 5: tombstones of expunged messages, so QRESYNC can answer VANISHED exactly
# (RFC 7162 3.2.5.1, 3.2.6). vanished_floor: expunges at or below this modseq may have left
# no tombstone (before this version, or dropped by compaction); a client that last synced
# below it is answered conservatively (every uid it may know that no longer exists).
_V5 = """
CREATE TABLE expunged (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id),
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq);
ALTER TABLE mailboxes ADD COLUMN vanished_floor INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET vanished_floor = highestmodseq;
"""

# Version 6: IMAP METADATA entries (RFC 5464). mailbox_id 0 is the server; user_id 0 owns
# the server's /shared/ entries (no user may write those). Entry names are kept lower-cased
# (RFC 5464 3: case-insensitive). A mailbox's entries follow its id through RENAME and go
# with DELETE; a user's go with the user.
_V6 = """
CREATE TABLE metadata (
    user_id INTEGER NOT NULL,
    mailbox_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (user_id, mailbox_id, name)
) WITHOUT ROWID;
CREATE INDEX metadata_mailbox ON metadata (mailbox_id);
"""

# Version 7: an account's role ("user", or "admin": may log in to the web admin) and a
# disabled flag (no login of any kind; mail is still accepted and kept).
_V7 = """
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user';
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
"""

# Version 8: the content a tombstone's message held (its blob id), so JMAP can tell which
# Emails an expunge removed (RFC 8620 5.2 Email/changes "destroyed"). Tombstones made before
# have none (NULL): a client older than them is told to resynchronise.
_V8 = """
ALTER TABLE expunged ADD COLUMN blob_id TEXT;
"""

# Version 9: per-mailbox counters, so STATUS and STAT read one row whatever the mailbox's
# size. Triggers on ``messages`` keep them in the same transaction as every row added or
# removed (delivery, APPEND, COPY/MOVE, EXPUNGE, POP3 deletes, imports, mailbox delete,
# repairs), so they cannot drift from the rows, not even across a crash (WAL: a
# transaction commits whole or not at all). A flag change is counted by the one path that
# changes flags, messages.store_flags, with one UPDATE per STORE in its transaction (a
# per-row trigger would cost a mailbox-row update per message of STORE 1:*).
# recent_count: messages above recent_mark (RFC 3501 2.3.2; uids only grow, so every new
# row is one of them until a SELECT claims them, which sets it to 0). The flags column is
# space-separated canonical spellings (codec.encode_flags), so padding it with spaces makes
# a flag test one instr().
# Its last statement computes the counters from the rows; ``posthouse verify --repair`` runs
# it again (RECOUNT_MAILBOXES below).
_V9 = r"""
ALTER TABLE mailboxes ADD COLUMN msg_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN unseen_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN deleted_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN size_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN recent_count INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER messages_counts_insert AFTER INSERT ON messages BEGIN
    UPDATE mailboxes SET msg_count = msg_count + 1,
            unseen_count = unseen_count + (NOT (instr(' ' || NEW.flags || ' ', ' \Seen ') > 0)),
            deleted_count = deleted_count + (instr(' ' || NEW.flags || ' ', ' \Deleted ') > 0),
            size_total = size_total + NEW.size,
            recent_count = recent_count + (NEW.uid > recent_mark) WHERE id = NEW.mailbox_id;
END;
CREATE TRIGGER messages_counts_delete AFTER DELETE ON messages BEGIN
    UPDATE mailboxes SET msg_count = msg_count - 1,
            unseen_count = unseen_count - (NOT (instr(' ' || OLD.flags || ' ', ' \Seen ') > 0)),
            deleted_count = deleted_count - (instr(' ' || OLD.flags || ' ', ' \Deleted ') > 0),
            size_total = size_total - OLD.size,
            recent_count = recent_count - (OLD.uid > recent_mark) WHERE id = OLD.mailbox_id;
END;
CREATE TRIGGER messages_counts_update AFTER UPDATE OF mailbox_id, uid, size ON messages
BEGIN
    UPDATE mailboxes SET msg_count = msg_count - 1,
            unseen_count = unseen_count - (NOT (instr(' ' || OLD.flags || ' ', ' \Seen ') > 0)),
            deleted_count = deleted_count - (instr(' ' || OLD.flags || ' ', ' \Deleted ') > 0),
            size_total = size_total - OLD.size,
            recent_count = recent_count - (OLD.uid > recent_mark) WHERE id = OLD.mailbox_id;
    UPDATE mailboxes SET msg_count = msg_count + 1,
            unseen_count = unseen_count + (NOT (instr(' ' || NEW.flags || ' ', ' \Seen ') > 0)),
            deleted_count = deleted_count + (instr(' ' || NEW.flags || ' ', ' \Deleted ') > 0),
            size_total = size_total + NEW.size,
            recent_count = recent_count + (NEW.uid > recent_mark) WHERE id = NEW.mailbox_id;
END;
UPDATE mailboxes SET
    msg_count = (SELECT count(*) FROM messages m WHERE m.mailbox_id = mailboxes.id),
    unseen_count = (SELECT count(*) FROM messages m WHERE m.mailbox_id = mailboxes.id
        AND NOT (instr(' ' || m.flags || ' ', ' \Seen ') > 0)),
    deleted_count = (SELECT count(*) FROM messages m WHERE m.mailbox_id = mailboxes.id
        AND instr(' ' || m.flags || ' ', ' \Deleted ') > 0),
    size_total = (SELECT coalesce(sum(m.size), 0) FROM messages m
        WHERE m.mailbox_id = mailboxes.id),
    recent_count = (SELECT count(*) FROM messages m WHERE m.mailbox_id = mailboxes.id
        AND m.uid > mailboxes.recent_mark);
"""

# Version 10: the address fields SEARCH FROM/TO/CC/BCC test (codec.SEARCHED_ADDRESSES), one
# narrow row per summary (its id), lower-cased by Python's str.lower (codec.address_values)
# when the summary is filed: a search is then one instr() per message over a short column,
# not a JSON parse of the whole header map and a case fold (issue 15). NULL: no such field.
# A summary's row goes with it (the trigger); the last statement fills the rows of the
# summaries that have none, through ph_header_lc (registered by connect): this migration,
# and ``posthouse verify --repair`` (FILL_ADDRESSES below).
_V10 = """
CREATE TABLE summary_addresses (
    id INTEGER PRIMARY KEY,        -- summaries.id
    from_lc TEXT,
    to_lc TEXT,
    cc_lc TEXT,
    bcc_lc TEXT
);
CREATE TRIGGER summaries_addresses_delete AFTER DELETE ON summaries BEGIN
    DELETE FROM summary_addresses WHERE id = OLD.id;
END;
INSERT INTO summary_addresses (id, from_lc, to_lc, cc_lc, bcc_lc)
    SELECT s.id, ph_header_lc(s.headers, 'from'), ph_header_lc(s.headers, 'to'),
        ph_header_lc(s.headers, 'cc'), ph_header_lc(s.headers, 'bcc') FROM summaries s
    WHERE NOT EXISTS (SELECT 1 FROM summary_addresses a WHERE a.id = s.id);
"""

# Every schema change is a numbered migration: NUMBERED[n] brings version n - 1 to n. A new one
# is the next number; a released one is never edited (tests/upgrade keeps data dirs made by
# each released version and proves today's code opens them).
NUMBERED: dict[int, str] = {
    1: _V1, 2: _V2, 3: _V3, 4: _V4, 5: _V5, 6: _V6, 7: _V7, 8: _V8, 9: _V9, 10: _V10,
}
assert sorted(NUMBERED) == list(range(1, len(NUMBERED) + 1)), "migrations are numbered 1..n"
MIGRATIONS: tuple[str, ...] = tuple(NUMBERED[n] for n in sorted(NUMBERED))
LATEST_VERSION = len(MIGRATIONS)
BACKUP_DIR = "backups"  # <data_dir>/backups/pre-v<N>-<date>.sqlite3 before a migration


class SchemaTooNew(RuntimeError):
    """The database was made by a newer posthouse: a downgrade is refused."""


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Open a connection in autocommit mode (transactions are explicit) with our pragmas."""
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.create_function("ph_header_lc", 2, stored_header_lc, deterministic=True)
    conn.execute("PRAGMA foreign_keys = ON")
    if read_only:
        conn.execute("PRAGMA query_only = ON")
    else:
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: every COMMIT is fsynced, so an acknowledged write survives a power loss.
        conn.execute("PRAGMA synchronous = FULL")
    return conn


def statements(script: str) -> list[str]:
    """A migration script's statements in order (a CREATE TRIGGER's body holds ';' too)."""
    out: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                out.append(pending.strip())
            pending = ""
    if pending.strip(" \n;"):
        out.append(pending.strip())
    return out


# The counters of every mailbox computed from its rows: the end of v9, and the repair.
RECOUNT_MAILBOXES = statements(_V9)[-1]
# The address rows of the summaries without one: the end of v10, and the repair.
FILL_ADDRESSES = statements(_V10)[-1]


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version a database file is at (0: empty)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, *, backup_dir: Path | None = None,
            now: datetime | None = None) -> int:
    """Bring the schema to LATEST_VERSION in one transaction; return the version found.

    An existing database (not a fresh one) is first copied, durably, to
    ``backup_dir/pre-v<LATEST>-<date>.sqlite3``, so a migration that goes wrong in a way the
    transaction cannot undo still leaves the data as it was. A database newer than this
    program is refused (SchemaTooNew) and left untouched."""
    found = schema_version(conn)
    if found > LATEST_VERSION:
        raise SchemaTooNew(
            f"database schema version {found} is newer than this posthouse knows "
            f"({LATEST_VERSION}): downgrades are refused; run the newer posthouse or restore "
            "a backup made by this version")
    if found == LATEST_VERSION:
        return found
    if found > 0 and backup_dir is not None:
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        copy_database(conn, backup_dir / f"pre-v{LATEST_VERSION}-{stamp}.sqlite3")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for version in range(found + 1, LATEST_VERSION + 1):
            for stmt in statements(NUMBERED[version]):
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLITE_FULL may have rolled it back already
            conn.execute("ROLLBACK")
        raise
    return found


def copy_database(conn: sqlite3.Connection, dest: Path) -> None:
    """A consistent copy of the database ``conn`` is open on, written durably to ``dest``.

    SQLite's online backup API in one step: it reads inside one read transaction, so the
    copy is one committed state even while a writer commits (WAL readers never block it).
    The copy goes to a temp file that is fsynced and renamed over ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".tmp-{dest.name}")
    tmp.unlink(missing_ok=True)
    try:
        target = sqlite3.connect(tmp)
        try:
            conn.backup(target, pages=-1)
            target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            target.close()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fd = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def store_id(conn: sqlite3.Connection) -> str:
    """The random identity of this database (the search file must carry the same)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
    return str(row[0])
