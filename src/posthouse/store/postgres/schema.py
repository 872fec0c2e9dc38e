"""The PostgreSQL schema, created and migrated by posthouse with numbered migrations.

``schema_version`` holds the version; ``migrate`` runs every missing step in one transaction
under an advisory lock, so nodes starting together migrate once. Blobs live in ``bytea``
(content-addressed, shared, reference-counted) so one database backup holds everything.
Text to search is kept lower-cased by posthouse (Python's Unicode rules, not the server's
locale) beside each summary, with pg_trgm GIN indexes for substring matching.
"""

from __future__ import annotations

from psycopg import AsyncConnection

MIGRATION_LOCK = 0x706F7374  # pg_advisory_xact_lock key: one migrating node at a time

_V1 = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE schema_version (version integer NOT NULL);
INSERT INTO schema_version VALUES (0);
CREATE TABLE meta (key text PRIMARY KEY, value bigint NOT NULL);
INSERT INTO meta (key, value) VALUES ('uidvalidity', 0);
CREATE TABLE domains (name text PRIMARY KEY, catchall text);
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    address text NOT NULL UNIQUE,
    domain text NOT NULL REFERENCES domains (name),
    password_hash text NOT NULL,
    quota_bytes bigint NOT NULL DEFAULT 0,
    pop3_keep boolean NOT NULL DEFAULT false,
    used_bytes bigint NOT NULL DEFAULT 0,
    used_count bigint NOT NULL DEFAULT 0,
    scram_secrets text
);
CREATE INDEX users_domain ON users (domain);
CREATE TABLE aliases (
    address text PRIMARY KEY,
    domain text NOT NULL REFERENCES domains (name),
    targets text[] NOT NULL
);
CREATE INDEX aliases_domain ON aliases (domain);
CREATE TABLE mailboxes (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    name text NOT NULL,
    special_use text,
    uidvalidity bigint NOT NULL,
    uidnext bigint NOT NULL DEFAULT 1,
    highestmodseq bigint NOT NULL DEFAULT 1,
    recent_mark bigint NOT NULL DEFAULT 0,
    vanished_floor bigint NOT NULL DEFAULT 0,
    UNIQUE (user_id, name)
);
CREATE TABLE subscriptions (
    user_id bigint NOT NULL REFERENCES users (id),
    name text NOT NULL,
    PRIMARY KEY (user_id, name)
);
CREATE TABLE blobs (
    id text PRIMARY KEY,
    size bigint NOT NULL,
    refs bigint NOT NULL,
    data bytea NOT NULL
);
CREATE TABLE summaries (
    blob_id text PRIMARY KEY REFERENCES blobs (id) ON DELETE CASCADE,
    envelope text NOT NULL,
    bodystructure text NOT NULL,
    headers text NOT NULL,
    sent_date text,
    headers_lc jsonb NOT NULL,
    text_lc text NOT NULL,
    body_lc text NOT NULL
);
CREATE INDEX summaries_body_trgm ON summaries USING gin (body_lc gin_trgm_ops);
CREATE INDEX summaries_text_trgm ON summaries USING gin (text_lc gin_trgm_ops);
CREATE TABLE messages (
    mailbox_id bigint NOT NULL REFERENCES mailboxes (id),
    uid bigint NOT NULL,
    modseq bigint NOT NULL,
    flags text NOT NULL,
    internaldate text NOT NULL,
    savedate text NOT NULL,
    size bigint NOT NULL,
    blob_id text NOT NULL REFERENCES blobs (id),
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX messages_blob ON messages (blob_id, mailbox_id);
CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);
CREATE TABLE expunged (
    mailbox_id bigint NOT NULL REFERENCES mailboxes (id),
    uid bigint NOT NULL,
    modseq bigint NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq);
CREATE TABLE views (
    id bigserial PRIMARY KEY,
    mailbox_id bigint NOT NULL,
    node_pid integer NOT NULL,
    node_start timestamptz NOT NULL
);
CREATE INDEX views_mailbox ON views (mailbox_id);
CREATE TABLE held (
    view_id bigint NOT NULL REFERENCES views (id) ON DELETE CASCADE,
    mailbox_id bigint NOT NULL,
    uid bigint NOT NULL,
    modseq bigint NOT NULL,
    flags text NOT NULL,
    internaldate text NOT NULL,
    savedate text NOT NULL,
    size bigint NOT NULL,
    blob_id text NOT NULL REFERENCES blobs (id),
    PRIMARY KEY (view_id, uid)
);
CREATE INDEX held_blob ON held (blob_id);
CREATE TABLE queue (
    id bigserial PRIMARY KEY,
    blob_id text NOT NULL REFERENCES blobs (id),
    size bigint NOT NULL,
    mail_from text NOT NULL,
    envid text,
    ret text,
    smtputf8 boolean NOT NULL,
    body text,
    sender_user_id bigint,
    requiretls boolean NOT NULL DEFAULT false,
    created bigint NOT NULL,
    next_attempt bigint NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    held boolean NOT NULL DEFAULT false,
    delay_warned boolean NOT NULL DEFAULT false,
    claimed_by text,
    claim_until timestamptz
);
CREATE INDEX queue_due ON queue (held, next_attempt);
CREATE INDEX queue_blob ON queue (blob_id);
CREATE TABLE queue_rcpts (
    id bigserial PRIMARY KEY,
    queue_id bigint NOT NULL REFERENCES queue (id) ON DELETE CASCADE,
    address text NOT NULL,
    state text NOT NULL,
    notify text NOT NULL,
    orcpt text,
    last_reply text,
    attempts integer NOT NULL DEFAULT 0
);
CREATE INDEX queue_rcpts_queue ON queue_rcpts (queue_id);
CREATE TABLE metadata (
    user_id bigint NOT NULL,
    mailbox_id bigint NOT NULL,
    name text NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (user_id, mailbox_id, name)
);
CREATE INDEX metadata_mailbox ON metadata (mailbox_id)
"""

# Version 2: an account's role ("user", or "admin": may log in to the web admin) and a
# disabled flag (no login of any kind; mail is still accepted), as SQLite's version 7.
_V2 = """
ALTER TABLE users ADD COLUMN role text NOT NULL DEFAULT 'user';
ALTER TABLE users ADD COLUMN disabled boolean NOT NULL DEFAULT false
"""

# Version 3: the content a tombstone's message held (its blob id), for JMAP Email/changes, as
# SQLite's version 8; tombstones made before have none.
_V3 = """
ALTER TABLE expunged ADD COLUMN blob_id text
"""

# Version 4: the address fields SEARCH FROM/TO/CC/BCC test, one narrow row per summary, as
# SQLite's version 10: the same lower-cased text as headers_lc's fields (filed with the
# summary, blobrefs.acquire), so a search reads a short column instead of the summary row
# and its jsonb (issue 15). NULL: no such field. Filled here from headers_lc.
_V4 = """
CREATE TABLE summary_addresses (
    blob_id text PRIMARY KEY REFERENCES summaries (blob_id) ON DELETE CASCADE,
    from_lc text,
    to_lc text,
    cc_lc text,
    bcc_lc text
);
INSERT INTO summary_addresses (blob_id, from_lc, to_lc, cc_lc, bcc_lc)
    SELECT blob_id, headers_lc ->> 'from', headers_lc ->> 'to', headers_lc ->> 'cc',
        headers_lc ->> 'bcc' FROM summaries
"""

# NUMBERED[n] brings version n - 1 to n; a released one is never edited. The numbers are
# PostgreSQL's own (not SQLite's user_version).
NUMBERED: dict[int, str] = {1: _V1, 2: _V2, 3: _V3, 4: _V4}
assert sorted(NUMBERED) == list(range(1, len(NUMBERED) + 1)), "migrations are numbered 1..n"
LATEST_VERSION = len(NUMBERED)


class PgSchemaTooNew(RuntimeError):
    """The database was made by a newer posthouse: a downgrade is refused."""


async def schema_version(conn: AsyncConnection) -> int:
    """The version the database is at (0: no posthouse schema yet)."""
    cur = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
    row = await cur.fetchone()
    if row is None or not row[0]:
        return 0
    cur = await conn.execute("SELECT version FROM schema_version")
    found = await cur.fetchone()
    return int(found[0]) if found else 0


async def migrate(conn: AsyncConnection) -> int:
    """Bring the schema to LATEST_VERSION in one transaction; return the version found.
    A newer schema is PgSchemaTooNew and left untouched."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        found = await schema_version(conn)
        if found > LATEST_VERSION:
            raise PgSchemaTooNew(
                f"database schema version {found} is newer than this posthouse knows "
                f"({LATEST_VERSION}): run the newer posthouse")
        for version in range(found + 1, LATEST_VERSION + 1):
            for stmt in NUMBERED[version].split(";"):
                if stmt.strip():
                    await conn.execute(stmt.strip().encode())
            await conn.execute("UPDATE schema_version SET version = %s", (version,))
    return found
