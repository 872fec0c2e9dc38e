"""Reads of messages (reader threads): uid lists, metadata, usage."""

from __future__ import annotations

import json
import operator
import sqlite3
from array import array
from collections.abc import Sequence
from typing import Any

from posthouse.message.summary_model import MessageSummary
from posthouse.store.errors import NoSuchMailbox
from posthouse.store.models import (
    SEEN,
    ExpungedContent,
    ExpungedSince,
    ListedMessage,
    StoredMessage,
)
from posthouse.store.sqlite.codec import (
    decode_flags,
    dt_from_text,
    field_names,
    summary_from_row,
)
from posthouse.store.sqlite.messages import uid_json
from posthouse.store.uidlist import UidFlagsList

_FIRST, _SECOND, _THIRD = operator.itemgetter(0), operator.itemgetter(1), operator.itemgetter(2)
_COMMON_FLAGS = ("", SEEN)
UID_LIST_SQL = (
    "SELECT uid, modseq, CASE flags WHEN '' THEN 0 WHEN '\\Seen' THEN 1 ELSE flags END"
    " FROM messages WHERE mailbox_id = ? ORDER BY uid"
)
_META = (
    "SELECT m.uid, m.modseq, m.flags, m.internaldate, m.size, m.blob_id, m.savedate"
    " FROM messages m"
    " WHERE m.mailbox_id = ? AND m.uid IN (SELECT value FROM json_each(?)) ORDER BY m.uid"
)
_META_SUMMARY = (
    "SELECT m.uid, m.modseq, m.flags, m.internaldate, m.size, m.blob_id,"
    " s.envelope, s.bodystructure, s.headers, s.sent_date, m.savedate"
    " FROM messages m JOIN summaries s ON s.blob_id = m.blob_id"
    " WHERE m.mailbox_id = ? AND m.uid IN (SELECT value FROM json_each(?)) ORDER BY m.uid"
)


def require_mailbox(conn: sqlite3.Connection, mailbox_id: int) -> None:
    """NoSuchMailbox unless the mailbox exists."""
    if conn.execute("SELECT 1 FROM mailboxes WHERE id = ?", (mailbox_id,)).fetchone() is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")


def uid_list(conn: sqlite3.Connection, mailbox_id: int) -> UidFlagsList:
    """(uid, modseq, flags) of every message in uid order: one primary-key range scan, turned
    into arrays by C-level maps (no Python object per message is kept). The two commonest
    flag sets come as the small ints 0 and 1 (shared objects, nothing to allocate per row)."""
    require_mailbox(conn, mailbox_id)
    rows = conn.execute(UID_LIST_SQL, (mailbox_id,)).fetchall()
    keys = list(map(_THIRD, rows))
    distinct = list(dict.fromkeys(keys))  # most messages share a handful of flag sets
    index = {key: n for n, key in enumerate(distinct)}
    return UidFlagsList(
        array("L", map(_FIRST, rows)),
        array("Q", map(_SECOND, rows)),
        array("I", map(index.__getitem__, keys)),
        [decode_flags(_COMMON_FLAGS[key] if isinstance(key, int) else key)
         for key in distinct],
    )


def uids_by_flags(
    conn: sqlite3.Connection, mailbox_id: int
) -> list[tuple[frozenset[str], list[int]]]:
    """Every message's uid grouped by its stored flag set (one entry per distinct set, uids
    in no particular order): one pass in SQLite, no per-message row in Python."""
    require_mailbox(conn, mailbox_id)
    return [
        (decode_flags(flags), list(map(int, uids.split(","))))
        for flags, uids in conn.execute(
            "SELECT flags, group_concat(uid) FROM messages WHERE mailbox_id = ? GROUP BY flags",
            (mailbox_id,),
        )
    ]


def _stored(
    row: Sequence[Any], *, with_summary: bool, flag_sets: dict[str, frozenset[str]]
) -> StoredMessage:
    summary = summary_from_row(*row[6:10]) if with_summary else None
    savedate = row[10] if with_summary else row[6]
    flags = flag_sets.get(row[2])
    if flags is None:  # most messages share a few flag sets: decode each once
        flags = flag_sets[row[2]] = decode_flags(row[2])
    return StoredMessage(
        uid=row[0],
        modseq=row[1],
        flags=flags,
        internaldate=dt_from_text(row[3]),
        size=row[4],
        blob_id=row[5],
        summary=summary,
        savedate=dt_from_text(savedate),
    )


def fetch_meta(
    conn: sqlite3.Connection, mailbox_id: int, uids: Sequence[int], *, with_summary: bool
) -> list[StoredMessage]:
    """Metadata of the uids that exist, in uid order (summary joined when asked)."""
    require_mailbox(conn, mailbox_id)
    sql = _META_SUMMARY if with_summary else _META
    rows = conn.execute(sql, (mailbox_id, uid_json(uids)))
    flag_sets: dict[str, frozenset[str]] = {}
    return [_stored(row, with_summary=with_summary, flag_sets=flag_sets) for row in rows]


def message_list(conn: sqlite3.Connection, mailbox_id: int,
                 fields: Sequence[str]) -> list[ListedMessage]:
    """Every message's metadata in uid order with the named header fields of its summary:
    one range scan of the mailbox and one summary row per message, the fields taken out
    of the JSON by SQLite (no summary decoded in Python)."""
    require_mailbox(conn, mailbox_id)
    names = field_names(fields)
    picks = "".join(", json_extract(s.headers, ?)" for _ in names)
    rows = conn.execute(  # picks: placeholders only, the paths are parameters
        "SELECT m.uid, m.modseq, m.flags, m.internaldate, m.size, m.blob_id" + picks +  # noqa: S608
        " FROM messages m LEFT JOIN summaries s ON s.blob_id = m.blob_id"
        " WHERE m.mailbox_id = ? ORDER BY m.uid",
        (*(f'$."{name}"' for name in names), mailbox_id)).fetchall()
    flag_sets: dict[str, frozenset[str]] = {}
    out: list[ListedMessage] = []
    for row in rows:
        flags = flag_sets.get(row[2])
        if flags is None:  # most messages share a few flag sets: decode each once
            flags = flag_sets[row[2]] = decode_flags(row[2])
        out.append(ListedMessage(row[0], row[1], flags, dt_from_text(row[3]), row[4], row[5],
                                 row[6:]))
    return out


def changed_since(conn: sqlite3.Connection, mailbox_id: int, modseq: int) -> set[int]:
    """Uids with a modseq above ``modseq``: one scan of the mailbox's rows, no decoding."""
    require_mailbox(conn, mailbox_id)
    rows = conn.execute(
        "SELECT uid FROM messages WHERE mailbox_id = ? AND modseq > ?", (mailbox_id, modseq)
    )
    return {row[0] for row in rows}


def expunged_since(conn: sqlite3.Connection, mailbox_id: int, modseq: int) -> ExpungedSince:
    """Tombstoned uids with a modseq above ``modseq``; complete unless ``modseq`` is below
    the floor of dropped tombstones (RFC 7162 3.2.5.1 lets the server answer more)."""
    row = conn.execute(
        "SELECT vanished_floor FROM mailboxes WHERE id = ?", (mailbox_id,)
    ).fetchone()
    if row is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    uids = sorted(r[0] for r in conn.execute(
        "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ?", (mailbox_id, modseq)
    ))
    return ExpungedSince(tuple(uids), complete=modseq >= int(row[0]))


def expunged_content_since(conn: sqlite3.Connection, mailbox_id: int,
                           modseq: int) -> ExpungedContent:
    """Tombstones above ``modseq`` with the content they held (JMAP /changes)."""
    row = conn.execute(
        "SELECT vanished_floor FROM mailboxes WHERE id = ?", (mailbox_id,)
    ).fetchone()
    if row is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    entries = conn.execute(
        "SELECT uid, blob_id FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
        (mailbox_id, modseq)).fetchall()
    return ExpungedContent(tuple((int(u), b) for u, b in entries),
                           complete=modseq >= int(row[0]))


def summaries(conn: sqlite3.Connection, blob_ids: Sequence[str]) -> dict[str, MessageSummary]:
    """The cached parse of each blob that has one, by blob id."""
    rows = conn.execute(
        "SELECT blob_id, envelope, bodystructure, headers, sent_date FROM summaries"
        " WHERE blob_id IN (SELECT value FROM json_each(?))", (json.dumps(list(blob_ids)),))
    return {row[0]: summary_from_row(*row[1:]) for row in rows}


def quota_usage(conn: sqlite3.Connection, user_id: int) -> tuple[int, int]:
    """(bytes, messages) from the per-user counter: O(1)."""
    row = conn.execute(
        "SELECT used_bytes, used_count FROM users WHERE id = ?", (user_id,)
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)
