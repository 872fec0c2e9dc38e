"""``posthouse store migrate --to postgresql://...``: a SQLite data dir copied into PostgreSQL.

The two schemas are the same tables (store/postgres mirrors store/sqlite), so the copy is
row for row, ids included: domains, users (with their quota counters, SCRAM secrets, role),
aliases, mailboxes (uidvalidity, uidnext, highestmodseq, the \\Recent mark, the VANISHED
floor), subscriptions, blobs (inline or files under blobs/, into ``bytea``), the summaries
(parsed again from each blob with the injected parse, for PostgreSQL's search columns),
messages (uid, modseq, flags, internal and save dates), expunge tombstones, METADATA and the
outbound queue with its recipients. Everything goes in one transaction: the target holds
all of it or nothing. The id sequences are moved past the copied ids, and the uidvalidity
counter past every mailbox's.

The target must be empty (no domain, user or queue entry): migrating twice, or into a
database that serves mail, is refused. The source is read through a read-only connection
while the caller holds the data dir's lock (no server may run on it). Then ``verify``
compares both sides: row counts per table, and a SHA-256 over each table's rows in key
order, blob contents included (each blob is also checked against its content address).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import AsyncConnection

from posthouse.message.summary_model import Summarizer, TextExtractor
from posthouse.store import blobs
from posthouse.store.errors import StorageFailure, StoreError
from posthouse.store.postgres import schema
from posthouse.store.postgres.blobrefs import INSERT_SUMMARY, address_params, summary_params
from posthouse.store.postgres.pool import Row, connect
from posthouse.store.sqlite import blobrefs as sqlite_blobs

Advance = Callable[[int], None]
Bar = Callable[[str, int, str], AbstractContextManager[Advance]]

# (table, columns, key order) copied as they are; booleans and arrays are converted below.
# Every table and column name in the SQL of this module comes from these constants (S608).
TABLES: tuple[tuple[str, str, str], ...] = (
    ("domains", "name, catchall", "name"),
    ("users", "id, address, domain, password_hash, quota_bytes, pop3_keep, used_bytes,"
     " used_count, scram_secrets, role, disabled", "id"),
    ("aliases", "address, domain, targets", "address"),
    ("mailboxes", "id, user_id, name, special_use, uidvalidity, uidnext, highestmodseq,"
     " recent_mark, vanished_floor", "id"),
    ("subscriptions", "user_id, name", "user_id, name"),
    ("messages", "mailbox_id, uid, modseq, flags, internaldate, savedate, size, blob_id",
     "mailbox_id, uid"),
    ("expunged", "mailbox_id, uid, modseq", "mailbox_id, uid"),
    ("metadata", "user_id, mailbox_id, name, value", "user_id, mailbox_id, name"),
    ("queue", "id, blob_id, size, mail_from, envid, ret, smtputf8, body, sender_user_id,"
     " created, next_attempt, attempts, last_error, held, delay_warned, requiretls", "id"),
    ("queue_rcpts", "id, queue_id, address, state, notify, orcpt, last_reply, attempts", "id"),
)
BOOLEANS = {"users": ("pop3_keep", "disabled"),
             "queue": ("smtputf8", "held", "delay_warned", "requiretls")}
_SEQUENCES = ("users", "mailboxes", "queue", "queue_rcpts")
BATCH = 500


class MigrationRefused(StoreError):
    """The target is not empty, or the source is not a SQLite store."""


@dataclass
class StoreCopyReport:
    """What was copied and what the verification found."""

    counts: dict[str, int] = field(default_factory=dict)  # rows per table (and blobs)
    mismatches: list[str] = field(default_factory=list)  # empty: the copy is verified


def _source(data_dir: Path) -> sqlite3.Connection:
    path = data_dir / "posthouse.sqlite3"
    if not path.is_file():
        raise MigrationRefused(f"{data_dir} has no SQLite store ({path.name})")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def columns_of(cols: str) -> list[str]:
    return [c.strip() for c in cols.split(",")]


def _to_pg(table: str, cols: list[str], row: Sequence[Any]) -> list[Any]:
    values = list(row)
    for name in BOOLEANS.get(table, ()):
        i = cols.index(name)
        values[i] = bool(values[i])
    if table == "aliases":
        i = cols.index("targets")
        values[i] = list(json.loads(values[i]))
    if table == "metadata":
        i = cols.index("value")
        values[i] = bytes(values[i])
    return values


def _canonical(table: str, cols: list[str], row: Sequence[Any]) -> bytes:
    """One row as bytes both sides agree on (booleans as 0/1, arrays as JSON)."""
    values: list[Any] = []
    for name, value in zip(cols, row, strict=True):
        if isinstance(value, bool) or name in BOOLEANS.get(table, ()):
            value = int(bool(value))
        elif table == "aliases" and name == "targets":
            value = list(json.loads(value)) if isinstance(value, str) else list(value)
        elif isinstance(value, bytes | memoryview):
            value = bytes(value).hex()
        values.append(value)
    return json.dumps(values, ensure_ascii=False).encode() + b"\n"


async def _target_is_empty(conn: AsyncConnection[Row]) -> bool:
    for table in ("domains", "users", "queue", "blobs"):
        cur = await conn.execute(f"SELECT 1 FROM {table} LIMIT 1".encode())  # noqa: S608
        if await cur.fetchone() is not None:
            return False
    return True


def _blob_ids(src: sqlite3.Connection) -> list[str]:
    return [r[0] for r in src.execute("SELECT id FROM blobs ORDER BY id")]


def _rows(src: sqlite3.Connection, table: str, cols: str, order: str) -> Iterator[Any]:
    yield from src.execute(f"SELECT {cols} FROM {table} ORDER BY {order}")  # noqa: S608


async def copy_to_postgres(data_dir: Path, url: str, *, summarize: Summarizer,
                           message_text: TextExtractor, bar: Bar) -> StoreCopyReport:
    """Copy the store in ``data_dir`` into the (empty) PostgreSQL store at ``url``, then
    verify the copy; the caller holds the data dir's lock."""
    src = _source(data_dir)
    root = data_dir / "blobs"
    report = StoreCopyReport()
    try:
        try:
            conn = await connect(url)
        except psycopg.Error as exc:
            raise StorageFailure(f"cannot reach PostgreSQL: {exc}") from exc
        try:
            await schema.migrate(conn)
            if not await _target_is_empty(conn):
                raise MigrationRefused("the PostgreSQL store is not empty: posthouse migrates "
                                       "only into a new database or schema")
            async with conn.transaction():
                await _copy(conn, src, root, summarize, message_text, bar, report)
            report.mismatches = await verify(conn, src, root, bar)
        finally:
            await conn.close()
    finally:
        src.close()
    return report


async def _copy(conn: AsyncConnection[Row], src: sqlite3.Connection, root: Path,
                summarize: Summarizer, message_text: TextExtractor, bar: Bar,
                report: StoreCopyReport) -> None:
    ids = _blob_ids(src)
    with bar("blobs", len(ids), "blobs") as advance:
        for blob_id in ids:
            size, refs = src.execute("SELECT size, refs FROM blobs WHERE id = ?",
                                     (blob_id,)).fetchone()
            data = sqlite_blobs.read(src, root, blob_id)
            await conn.execute(b"INSERT INTO blobs (id, size, refs, data) VALUES (%s, %s, %s, %s)",
                               (blob_id, size, refs, data))
            if src.execute("SELECT 1 FROM summaries WHERE blob_id = ? UNION ALL"
                           " SELECT 1 FROM messages WHERE blob_id = ?",
                           (blob_id, blob_id)).fetchone() is not None:
                summary = summarize(data)
                await conn.execute(INSERT_SUMMARY.encode(), (
                    blob_id, *summary_params(summary, message_text(data)),
                    *address_params(summary)))
            advance(1)
    report.counts["blobs"] = len(ids)
    for table, cols, order in TABLES:
        names = columns_of(cols)
        total = src.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        insert = (f"INSERT INTO {table} ({cols}) VALUES "  # noqa: S608
                  f"({', '.join(['%s'] * len(names))})").encode()
        with bar(table, total, "rows") as advance:
            batch: list[list[Any]] = []
            async with conn.cursor() as cur:
                for row in _rows(src, table, cols, order):
                    batch.append(_to_pg(table, names, row))
                    if len(batch) >= BATCH:
                        await cur.executemany(insert, batch)
                        advance(len(batch))
                        batch = []
                if batch:
                    await cur.executemany(insert, batch)
                    advance(len(batch))
        report.counts[table] = total
    for table in _SEQUENCES:  # new rows get ids above the copied ones
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608
            f" greatest((SELECT max(id) FROM {table}), 1))".encode())
    row = src.execute("SELECT value FROM meta WHERE key = 'uidvalidity'").fetchone()
    await conn.execute(b"UPDATE meta SET value = greatest(value, %s,"
                       b" coalesce((SELECT max(uidvalidity) FROM mailboxes), 0))"
                       b" WHERE key = 'uidvalidity'", (int(row[0]) if row else 0,))


async def verify(conn: AsyncConnection[Row], src: sqlite3.Connection, root: Path,
                 bar: Bar) -> list[str]:
    """What differs between the SQLite store and its copy (empty: nothing)."""
    problems: list[str] = []
    ids = _blob_ids(src)
    with bar("verify blobs", len(ids), "blobs") as advance:
        for blob_id in ids:
            cur = await conn.execute(b"SELECT data, size, refs FROM blobs WHERE id = %s",
                                     (blob_id,))
            found = await cur.fetchone()
            size, refs = src.execute("SELECT size, refs FROM blobs WHERE id = ?",
                                     (blob_id,)).fetchone()
            if found is None:
                problems.append(f"blob {blob_id}: missing")
            elif (blobs.blob_id_of(bytes(found[0])) != blob_id or found[1] != size
                  or found[2] != refs
                  or bytes(found[0]) != sqlite_blobs.read(src, root, blob_id)):
                problems.append(f"blob {blob_id}: content, size or references differ")
            advance(1)
    cur = await conn.execute(b"SELECT count(*) FROM blobs")
    counted = await cur.fetchone()
    if counted is None or counted[0] != len(ids):
        problems.append(f"blobs: {len(ids)} in SQLite, {counted and counted[0]} in PostgreSQL")
    with bar("verify tables", len(TABLES), "tables") as advance:
        for table, cols, order in TABLES:
            names = columns_of(cols)
            mine, theirs = hashlib.sha256(), hashlib.sha256()
            count_src = count_pg = 0
            for row in _rows(src, table, cols, order):
                mine.update(_canonical(table, names, row))
                count_src += 1
            # the same order on both sides: PostgreSQL's text comparisons by byte ("C")
            pg_order = ", ".join(f'{k.strip()} COLLATE "C"' if k.strip() in
                                 ("name", "address") else k.strip()
                                 for k in order.split(","))
            async with conn.cursor() as pg:
                await pg.execute(f"SELECT {cols} FROM {table} ORDER BY {pg_order}".encode())  # noqa: S608
                async for row in pg:
                    theirs.update(_canonical(table, names, row))
                    count_pg += 1
            if count_src != count_pg:
                problems.append(f"{table}: {count_src} rows in SQLite, {count_pg} in PostgreSQL")
            elif mine.digest() != theirs.digest():
                problems.append(f"{table}: the rows' contents differ")
            advance(1)
    return problems
