"""Blob rows and their reference counts (runs on the writer or a reader connection).

A blob row exists while something (a message row or a queue entry) references it. When the
last reference goes, the row, its inline bytes and its summary go in the same transaction
(its full-text row soon after, see fts_gone); the file of a large blob is unlinked by the
writer after the commit.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from posthouse.message.summary_model import MessageSummary
from posthouse.store import blobs
from posthouse.store.errors import NotFound
from posthouse.store.sqlite.codec import (
    AddressValues,
    address_values,
    dt_to_text,
    headers_json,
)
from posthouse.store.sqlite.writer import WriteContext


def acquire(ctx: WriteContext, blob_id: str, data: bytes, *, refs: int) -> None:
    """Add ``refs`` references to a blob, creating its row (and bytes) if needed."""
    conn = ctx.conn
    cur = conn.execute("UPDATE blobs SET refs = refs + ? WHERE id = ?", (refs, blob_id))
    if cur.rowcount:
        return
    inline = blobs.is_inline(len(data))
    conn.execute(
        "INSERT INTO blobs (id, size, refs, inline) VALUES (?, ?, ?, ?)",
        (blob_id, len(data), refs, int(inline)),
    )
    if inline:
        conn.execute("INSERT INTO blob_data (id, data) VALUES (?, ?)", (blob_id, data))
    elif not blobs.blob_file_exists(ctx.blob_root, blob_id):
        # Rare: the file written before submission was unlinked meanwhile because another
        # transaction dropped the last reference to the same content. Write it again.
        blobs.write_blob_file(ctx.blob_root, blob_id, data)


def add_refs(ctx: WriteContext, counts: Mapping[str, int]) -> None:
    """Add references to blobs that exist (COPY)."""
    ctx.conn.executemany(
        "UPDATE blobs SET refs = refs + ? WHERE id = ?",
        [(n, blob_id) for blob_id, n in counts.items()],
    )


# envelope, bodystructure, headers, sent_date; then the summary_addresses columns
SummaryRow = tuple[str, str, str, str | None, AddressValues]


def summary_row(summary: MessageSummary) -> SummaryRow:
    """The summaries columns of a parse (made before the write job where it can be)."""
    return (
        summary.envelope,
        summary.bodystructure,
        headers_json(summary),
        dt_to_text(summary.sent_date) if summary.sent_date else None,
        address_values(summary.headers),
    )


def ensure_summary(ctx: WriteContext, blob_id: str, row: SummaryRow) -> None:
    """Store a blob's parse once (the first delivery wins), with its address row (schema
    v10); the indexer takes it from here."""
    found = ctx.conn.execute(
        "INSERT INTO summaries (blob_id, envelope, bodystructure, headers, sent_date)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (blob_id) DO NOTHING RETURNING id",
        (blob_id, *row[:4]),
    ).fetchone()
    if found is not None:  # indexed after the commit, from the message (indexer.py)
        ctx.conn.execute(
            "INSERT INTO summary_addresses (id, from_lc, to_lc, cc_lc, bcc_lc)"
            " VALUES (?, ?, ?, ?, ?)", (found[0], *row[4]))
        ctx.new_summaries += 1


def add_summary(ctx: WriteContext, blob_id: str, row: SummaryRow) -> None:
    """``ensure_summary`` filed after the message's own commit: a no-op when the blob is
    gone meanwhile (or its transaction never committed), or when it has a summary."""
    if ctx.conn.execute("SELECT 1 FROM blobs WHERE id = ?", (blob_id,)).fetchone() is None:
        return
    ensure_summary(ctx, blob_id, row)


def missing_summaries(conn: sqlite3.Connection) -> list[str]:
    """Blobs filed in a mailbox without a summary (left by a crash between a delivery's
    commit and its summary's)."""
    return [row[0] for row in conn.execute(
        "SELECT DISTINCT m.blob_id FROM messages m"
        " WHERE NOT EXISTS (SELECT 1 FROM summaries s WHERE s.blob_id = m.blob_id)")]


def release(ctx: WriteContext, counts: Mapping[str, int]) -> None:
    """Drop references; a blob whose count reaches zero is deleted with its summary."""
    for blob_id, n in counts.items():
        row = ctx.conn.execute(
            "UPDATE blobs SET refs = refs - ? WHERE id = ? RETURNING refs, inline", (n, blob_id)
        ).fetchone()
        if row is not None and row[0] <= 0:
            _delete(ctx, blob_id, inline=bool(row[1]))


def _delete(ctx: WriteContext, blob_id: str, *, inline: bool) -> None:
    conn = ctx.conn
    row = conn.execute(
        "DELETE FROM summaries WHERE blob_id = ? RETURNING id", (blob_id,)
    ).fetchone()
    if row is not None:  # its index row goes later, in the indexer's own file
        conn.execute("INSERT OR IGNORE INTO fts_gone (id) VALUES (?)", (row[0],))
    conn.execute("DELETE FROM blob_data WHERE id = ?", (blob_id,))
    conn.execute("DELETE FROM blobs WHERE id = ?", (blob_id,))
    if not inline:
        ctx.freed_blobs.add(blob_id)


def count_refs(rows: Iterable[Sequence[Any]]) -> dict[str, int]:
    """Group blob ids (first column of each row) into reference counts."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[0]] = counts.get(row[0], 0) + 1
    return counts


def read(conn: sqlite3.Connection, root: Path, blob_id: str) -> bytes:
    """A blob's bytes (NotFound if no row references it)."""
    row = conn.execute(
        "SELECT b.inline, d.data FROM blobs b LEFT JOIN blob_data d ON d.id = b.id"
        " WHERE b.id = ?",
        (blob_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no blob {blob_id}")
    if row[0]:
        return bytes(row[1])
    try:
        return blobs.read_blob_file(root, blob_id)
    except FileNotFoundError:
        raise NotFound(f"blob {blob_id} was removed") from None


READ_CHUNK = 500  # blob ids per ``IN (...)`` query (a JSON array bound as one parameter)
_READ_MANY = (
    "SELECT b.id, b.inline, d.data FROM blobs b LEFT JOIN blob_data d ON d.id = b.id"
    " WHERE b.id IN (SELECT value FROM json_each(?))"
)


def read_many(conn: sqlite3.Connection, root: Path, blob_ids: Sequence[str]) -> dict[str, bytes]:
    """The bytes of each blob that exists, by id; absent ids (and removed files) are left out.

    Inline blobs come from one query per ``READ_CHUNK`` ids; file blobs are read here too.
    """
    wanted = list(dict.fromkeys(blob_ids))
    found: dict[str, bytes] = {}
    files: list[str] = []
    for start in range(0, len(wanted), READ_CHUNK):
        chunk = json.dumps(wanted[start : start + READ_CHUNK])
        rows = conn.execute(_READ_MANY, (chunk,))
        for blob_id, inline, data in rows:
            if inline:
                found[blob_id] = bytes(data)
            else:
                files.append(blob_id)
    for blob_id in files:
        try:
            found[blob_id] = blobs.read_blob_file(root, blob_id)
        except FileNotFoundError:
            continue
    return found


def file_blob_ids(conn: sqlite3.Connection) -> set[str]:
    """Every blob id whose bytes live in a file."""
    return {row[0] for row in conn.execute("SELECT id FROM blobs WHERE inline = 0")}
