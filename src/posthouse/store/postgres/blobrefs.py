"""Blob rows in ``bytea`` and their reference counts, with each blob's summary and the
lower-cased text SEARCH matches against (and its address fields' row, schema v4).

A blob row exists while something references it: a message row, a queue entry, or an
expunged message an open IMAP view still addresses (``held``). When the last reference goes
the row goes, and its summary with it (ON DELETE CASCADE). Content-addressed: the same bytes
delivered twice are stored once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from posthouse.message.summary_model import MessageSummary
from posthouse.store.errors import NotFound
from posthouse.store.postgres.pool import Tx
from posthouse.store.sqlite.codec import address_values, dt_to_text, headers_json, headers_text


@dataclass(frozen=True, slots=True)
class PgBlobIn:
    """A message's content on its way in, with its parse and its searchable text."""

    blob_id: str
    data: bytes
    summary: MessageSummary | None
    body_text: str | None  # the decoded body text (summary.message_text); None: not parsed


def _searchable(text: str) -> str:
    """Text PostgreSQL can store: it has no NUL character in text or jsonb (a NUL cannot
    be searched for anyway: IMAP strings never carry one)."""
    return text.replace("\x00", "")


def address_params(summary: MessageSummary) -> tuple[str | None, ...]:
    """The summary_addresses columns of a parse (schema v4): headers_lc's FROM, TO, CC and
    BCC values, which SEARCH on those fields reads instead."""
    return tuple(None if v is None else _searchable(v) for v in address_values(summary.headers))


def summary_params(summary: MessageSummary, body_text: str) -> tuple[Any, ...]:
    """The summaries columns of a parse (everything but the blob id). JSON columns escape a
    NUL as \\u0000, which text keeps; the lower-cased copies drop it."""
    lowered = {_searchable(k.lower()): _searchable(v.lower())
               for k, v in summary.headers.items()}
    body_lc = _searchable(body_text.lower())
    text_lc = _searchable(headers_text(summary.headers).lower()) + "\n" + body_lc
    return (summary.envelope, summary.bodystructure, headers_json(summary),
            dt_to_text(summary.sent_date) if summary.sent_date else None,
            json.dumps(lowered, ensure_ascii=False), text_lc, body_lc)


# A summary and its address row in one statement (none if the blob has its summary).
INSERT_SUMMARY = (
    "WITH s AS (INSERT INTO summaries (blob_id, envelope, bodystructure, headers, sent_date,"
    " headers_lc, text_lc, body_lc) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (blob_id) DO NOTHING RETURNING blob_id)"
    " INSERT INTO summary_addresses (blob_id, from_lc, to_lc, cc_lc, bcc_lc)"
    " SELECT blob_id, %s, %s, %s, %s FROM s"
)


async def acquire(tx: Tx, blob: PgBlobIn, *, refs: int) -> None:
    """Add ``refs`` references to a blob, creating its row (and summary) if needed."""
    await tx.run(
        "INSERT INTO blobs (id, size, refs, data) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET refs = blobs.refs + excluded.refs",
        (blob.blob_id, len(blob.data), refs, blob.data))
    if blob.summary is not None and blob.body_text is not None:
        await tx.run(INSERT_SUMMARY, (blob.blob_id, *summary_params(blob.summary, blob.body_text),
                                      *address_params(blob.summary)))


async def add_refs(tx: Tx, counts: Mapping[str, int]) -> None:
    """Add references to blobs that exist (COPY), in id order (no deadlocks)."""
    for blob_id in sorted(counts):
        await tx.run("UPDATE blobs SET refs = refs + %s WHERE id = %s", (counts[blob_id], blob_id))


async def release(tx: Tx, counts: Mapping[str, int]) -> None:
    """Drop references; a blob whose count reaches zero is deleted with its summary."""
    for blob_id in sorted(counts):
        row = await tx.one("UPDATE blobs SET refs = refs - %s WHERE id = %s RETURNING refs",
                           (counts[blob_id], blob_id))
        if row is not None and row[0] <= 0:
            await tx.run("DELETE FROM blobs WHERE id = %s", (blob_id,))


def count_refs(rows: Iterable[Sequence[Any]]) -> dict[str, int]:
    """Group blob ids (first column of each row) into reference counts."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[0]] = counts.get(row[0], 0) + 1
    return counts


async def has_summary(tx: Tx, blob_id: str) -> bool:
    """Whether the blob exists with its summary (a new delivery need not parse it)."""
    return await tx.one("SELECT 1 FROM summaries WHERE blob_id = %s", (blob_id,)) is not None


async def read(tx: Tx, blob_id: str) -> bytes:
    """A blob's bytes (NotFound)."""
    row = await tx.one("SELECT data FROM blobs WHERE id = %s", (blob_id,))
    if row is None:
        raise NotFound(f"no blob {blob_id}")
    return bytes(row[0])


async def read_many(tx: Tx, blob_ids: Sequence[str]) -> dict[str, bytes]:
    """The bytes of each blob that exists, by id."""
    wanted = list(dict.fromkeys(blob_ids))
    rows = await tx.all("SELECT id, data FROM blobs WHERE id = ANY(%s)", (wanted,))
    return {row[0]: bytes(row[1]) for row in rows}
