"""Reads of messages on PostgreSQL: uid lists, metadata, expunged views, usage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from posthouse.message.summary_model import MessageSummary
from posthouse.store.errors import NoSuchMailbox
from posthouse.store.models import (
    ExpungedContent,
    ExpungedSince,
    ListedMessage,
    StoredMessage,
    UidFlags,
)
from posthouse.store.postgres.pool import Tx
from posthouse.store.sqlite.codec import (
    decode_flags,
    dt_from_text,
    field_names,
    summary_from_row,
)

_META = ("SELECT m.uid, m.modseq, m.flags, m.internaldate, m.size, m.blob_id, m.savedate"
         " FROM {table} m WHERE m.{key} = %s AND m.uid = ANY(%s) ORDER BY m.uid")
_META_SUMMARY = (
    "SELECT m.uid, m.modseq, m.flags, m.internaldate, m.size, m.blob_id, m.savedate,"
    " s.envelope, s.bodystructure, s.headers, s.sent_date"
    " FROM {table} m JOIN summaries s ON s.blob_id = m.blob_id"
    " WHERE m.{key} = %s AND m.uid = ANY(%s) ORDER BY m.uid")


async def require_mailbox(tx: Tx, mailbox_id: int) -> None:
    """NoSuchMailbox unless the mailbox exists."""
    if await tx.one("SELECT 1 FROM mailboxes WHERE id = %s", (mailbox_id,)) is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")


async def uid_list(tx: Tx, mailbox_id: int) -> list[UidFlags]:
    """(uid, modseq, flags) of every message in uid order."""
    await require_mailbox(tx, mailbox_id)
    cache: dict[str, frozenset[str]] = {}
    out: list[UidFlags] = []
    for uid, modseq, flags in await tx.all(
        "SELECT uid, modseq, flags FROM messages WHERE mailbox_id = %s ORDER BY uid",
        (mailbox_id,),
    ):
        parsed = cache.get(flags)
        if parsed is None:
            parsed = cache[flags] = decode_flags(flags)
        out.append(UidFlags(uid, modseq, parsed))
    return out


async def uids_by_flags(tx: Tx, mailbox_id: int) -> list[tuple[frozenset[str], list[int]]]:
    """Every message's uid grouped by its stored flag set (one row per distinct set)."""
    await require_mailbox(tx, mailbox_id)
    return [(decode_flags(flags), list(uids)) for flags, uids in await tx.all(
        "SELECT flags, array_agg(uid) FROM messages WHERE mailbox_id = %s GROUP BY flags",
        (mailbox_id,))]


def _stored(row: Sequence[Any], *, with_summary: bool,
            flag_sets: dict[str, frozenset[str]]) -> StoredMessage:
    flags = flag_sets.get(row[2])
    if flags is None:
        flags = flag_sets[row[2]] = decode_flags(row[2])
    return StoredMessage(
        uid=row[0], modseq=row[1], flags=flags, internaldate=dt_from_text(row[3]),
        size=row[4], blob_id=row[5],
        summary=summary_from_row(*row[7:11]) if with_summary else None,
        savedate=dt_from_text(row[6]) if row[6] else None)


async def fetch_meta(tx: Tx, mailbox_id: int, uids: Sequence[int], *,
                     with_summary: bool) -> list[StoredMessage]:
    """Metadata of the uids that exist, in uid order (summary joined when asked)."""
    await require_mailbox(tx, mailbox_id)
    sql = (_META_SUMMARY if with_summary else _META).format(table="messages", key="mailbox_id")
    rows = await tx.all(sql, (mailbox_id, list(uids)))
    flag_sets: dict[str, frozenset[str]] = {}
    return [_stored(row, with_summary=with_summary, flag_sets=flag_sets) for row in rows]


async def fetch_expunged(tx: Tx, view_id: int, uids: Sequence[int], *,
                         with_summary: bool) -> list[StoredMessage]:
    """Metadata of expunged messages a view still holds, in uid order."""
    sql = (_META_SUMMARY if with_summary else _META).format(table="held", key="view_id")
    rows = await tx.all(sql, (view_id, list(uids)))
    flag_sets: dict[str, frozenset[str]] = {}
    return [_stored(row, with_summary=with_summary, flag_sets=flag_sets) for row in rows]


async def message_list(tx: Tx, mailbox_id: int,
                       fields: Sequence[str]) -> list[ListedMessage]:
    """Every message's metadata in uid order with the named header fields of its summary,
    taken out of the JSON by PostgreSQL (no summary decoded in Python)."""
    await require_mailbox(tx, mailbox_id)
    names = field_names(fields)
    picks = "".join(", (s.headers::json) ->> %s::text" for _ in names)
    rows = await tx.all(  # picks: placeholders only, the names are parameters
        "SELECT m.uid, m.modseq, m.flags, m.internaldate, m.size, m.blob_id" + picks +  # noqa: S608
        " FROM messages m LEFT JOIN summaries s ON s.blob_id = m.blob_id"
        " WHERE m.mailbox_id = %s ORDER BY m.uid", (*names, mailbox_id))
    flag_sets: dict[str, frozenset[str]] = {}
    out: list[ListedMessage] = []
    for row in rows:
        flags = flag_sets.get(row[2])
        if flags is None:
            flags = flag_sets[row[2]] = decode_flags(row[2])
        out.append(ListedMessage(row[0], row[1], flags, dt_from_text(row[3]), row[4], row[5],
                                 tuple(row[6:])))
    return out


async def changed_since(tx: Tx, mailbox_id: int, modseq: int) -> set[int]:
    """Uids with a modseq above ``modseq``."""
    await require_mailbox(tx, mailbox_id)
    rows = await tx.all("SELECT uid FROM messages WHERE mailbox_id = %s AND modseq > %s",
                        (mailbox_id, modseq))
    return {row[0] for row in rows}


async def expunged_since(tx: Tx, mailbox_id: int, modseq: int) -> ExpungedSince:
    """Tombstoned uids with a modseq above ``modseq`` (RFC 7162 3.2.5.1)."""
    row = await tx.one("SELECT vanished_floor FROM mailboxes WHERE id = %s", (mailbox_id,))
    if row is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    uids = [r[0] for r in await tx.all(
        "SELECT uid FROM expunged WHERE mailbox_id = %s AND modseq > %s ORDER BY uid",
        (mailbox_id, modseq))]
    return ExpungedSince(tuple(uids), complete=modseq >= int(row[0]))


async def expunged_content_since(tx: Tx, mailbox_id: int, modseq: int) -> ExpungedContent:
    """Tombstones above ``modseq`` with the content they held (JMAP /changes)."""
    row = await tx.one("SELECT vanished_floor FROM mailboxes WHERE id = %s", (mailbox_id,))
    if row is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    rows = await tx.all(
        "SELECT uid, blob_id FROM expunged WHERE mailbox_id = %s AND modseq > %s ORDER BY uid",
        (mailbox_id, modseq))
    return ExpungedContent(tuple((int(r[0]), r[1]) for r in rows),
                           complete=modseq >= int(row[0]))


async def summaries(tx: Tx, blob_ids: Sequence[str]) -> dict[str, MessageSummary]:
    """The stored parse of each blob that has one, by blob id."""
    rows = await tx.all("SELECT blob_id, envelope, bodystructure, headers, sent_date"
                        " FROM summaries WHERE blob_id = ANY(%s)", (list(blob_ids),))
    return {row[0]: summary_from_row(*row[1:]) for row in rows}


async def quota_usage(tx: Tx, user_id: int) -> tuple[int, int]:
    """(bytes, messages) from the per-user counter."""
    row = await tx.one("SELECT used_bytes, used_count FROM users WHERE id = %s", (user_id,))
    return (int(row[0]), int(row[1])) if row else (0, 0)
