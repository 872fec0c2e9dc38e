"""Writes to messages: deliver, append, copy/move, flags, expunge (writer thread).

Every transaction that changes a mailbox bumps its highestmodseq once and stamps the rows it
adds or changes with that value (RFC 7162 3.1.1); uids come from uidnext and are never reused.
A removed row leaves a tombstone (uid, modseq, blob id) in ``expunged`` for QRESYNC's VANISHED; past
MAX_TOMBSTONES per mailbox the oldest are dropped and ``vanished_floor`` rises to cover them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from posthouse.message.summary_model import MessageSummary
from posthouse.store.errors import InvalidMailboxName, NoSuchMailbox
from posthouse.store.events import FlagsChanged, MessagesAdded, MessagesExpunged
from posthouse.store.models import (
    DELETED,
    SEEN,
    DeliveryTarget,
    FlagOp,
    OutboundEnvelope,
    StoredMessage,
    UidFlags,
)
from posthouse.store.names import normalize_mailbox_name
from posthouse.store.sqlite import blobrefs, queue
from posthouse.store.sqlite.codec import (
    apply_flag_op,
    decode_flags,
    dt_from_text,
    dt_to_text,
    encode_flags,
    flag_set,
)
from posthouse.store.sqlite.counters import (
    MailboxKey,
    adjust_usage,
    bump_modseq,
    check_quota,
    mailbox_key,
    take_uid_at,
    take_uids,
)
from posthouse.store.sqlite.holds import ViewHolds
from posthouse.store.sqlite.writer import WriteContext

MAX_TOMBSTONES = 20_000  # per mailbox; older expunges are answered conservatively


@dataclass(frozen=True, slots=True)
class BlobIn:
    """A message's content on its way in; file-sized bytes are already on disk."""

    blob_id: str
    data: bytes
    summary: MessageSummary | None


@dataclass(frozen=True, slots=True)
class NewRow:
    """One message row to file into a mailbox."""

    blob_id: str
    flags: str
    internaldate: str
    size: int


def uid_json(uids: Sequence[int]) -> str:
    """Uids as a JSON array for ``IN (SELECT value FROM json_each(?))``."""
    return json.dumps([int(uid) for uid in uids])


def file_rows(
    ctx: WriteContext, key: MailboxKey, rows: Sequence[NewRow], *, origin: object,
    at_uid: int | None = None,
) -> list[int]:
    """Insert rows with fresh uids and one new modseq; returns the uids in order.
    ``at_uid``: one imported row that keeps this uid (UidNotAvailable below uidnext)."""
    if at_uid is not None:
        assert len(rows) == 1
        first, modseq = at_uid, take_uid_at(ctx, key.id, at_uid)
    else:
        first, modseq = take_uids(ctx, key.id, len(rows))
    uids = list(range(first, first + len(rows)))
    savedate = dt_to_text(ctx.now)
    ctx.conn.executemany(
        "INSERT INTO messages (mailbox_id, uid, modseq, flags, internaldate, savedate, size,"
        " blob_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (key.id, uid, modseq, r.flags, r.internaldate, savedate, r.size, r.blob_id)
            for uid, r in zip(uids, rows, strict=True)
        ],
    )
    adjust_usage(ctx, key.user_id, size=sum(r.size for r in rows), count=len(rows))
    ctx.events.append(MessagesAdded(key.user_id, key.id, tuple(uids), modseq, origin))
    return uids


def remove_rows(
    ctx: WriteContext, key: MailboxKey, uids: Sequence[int], *, origin: object,
    holds: ViewHolds | None = None,
) -> list[int]:
    """Delete rows, drop their blob references and usage; returns the removed uids. While
    views of the mailbox are open, ``holds`` keeps the rows and their references for them
    (holds.py)."""
    if not uids:
        return []
    removed = ctx.conn.execute(
        "DELETE FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?))"
        " RETURNING uid, blob_id, size, modseq, flags, internaldate, savedate",
        (key.id, uid_json(uids)),
    ).fetchall()
    if not removed:
        return []
    if holds is not None and holds.watched(key.id):
        holds.hold(key.id, [StoredMessage(r[0], r[3], decode_flags(r[4]), dt_from_text(r[5]),
                                          r[2], r[1], savedate=dt_from_text(r[6]))
                            for r in removed])
    else:
        blobrefs.release(ctx, blobrefs.count_refs((r[1],) for r in removed))
    adjust_usage(ctx, key.user_id, size=-sum(r[2] for r in removed), count=-len(removed))
    modseq = bump_modseq(ctx, key.id)  # RFC 7162 3.1.10: EXPUNGE also advances HIGHESTMODSEQ
    gone = sorted(r[0] for r in removed)
    ctx.conn.executemany(
        "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq, blob_id)"
        " VALUES (?, ?, ?, ?)",
        [(key.id, r[0], modseq, r[1]) for r in removed],
    )
    compact_tombstones(ctx, key.id, MAX_TOMBSTONES)
    ctx.events.append(MessagesExpunged(key.user_id, key.id, tuple(gone), modseq, origin))
    return gone


def compact_tombstones(ctx: WriteContext, mailbox_id: int, keep: int) -> int:
    """Keep at most ``keep`` newest tombstones; the floor rises to the newest dropped modseq,
    so a client older than that is answered conservatively. Returns how many were dropped."""
    row = ctx.conn.execute(
        "SELECT modseq FROM expunged WHERE mailbox_id = ? ORDER BY modseq DESC"
        " LIMIT 1 OFFSET ?", (mailbox_id, keep),
    ).fetchone()
    if row is None:
        return 0
    cutoff = int(row[0])  # ties go too: dropping more is safe, missing one is not
    dropped = ctx.conn.execute(
        "DELETE FROM expunged WHERE mailbox_id = ? AND modseq <= ?", (mailbox_id, cutoff)
    ).rowcount
    ctx.conn.execute(
        "UPDATE mailboxes SET vanished_floor = max(vanished_floor, ?) WHERE id = ?",
        (cutoff, mailbox_id),
    )
    return int(dropped)


def _target_key(conn: sqlite3.Connection, target: DeliveryTarget) -> MailboxKey:
    if target.special_use is not None:
        row = conn.execute(
            "SELECT id, uidvalidity FROM mailboxes WHERE user_id = ? AND special_use = ? "
            "ORDER BY id LIMIT 1", (target.user_id, target.special_use),
        ).fetchone()
        if row is not None:
            return MailboxKey(row[0], target.user_id, row[1])
    try:
        name = normalize_mailbox_name(target.mailbox)
    except InvalidMailboxName:
        raise NoSuchMailbox(f"no mailbox {target.mailbox!r}") from None
    row = conn.execute(
        "SELECT id, uidvalidity FROM mailboxes WHERE user_id = ? AND name = ?",
        (target.user_id, name),
    ).fetchone()
    if row is None:
        raise NoSuchMailbox(f"user {target.user_id} has no mailbox {name!r}")
    return MailboxKey(row[0], target.user_id, row[1])


def _store_blob(ctx: WriteContext, blob: BlobIn, refs: int) -> None:
    blobrefs.acquire(ctx, blob.blob_id, blob.data, refs=refs)
    if blob.summary is not None:
        blobrefs.ensure_summary(ctx, blob.blob_id, blobrefs.summary_row(blob.summary))


def deliver(
    ctx: WriteContext,
    blob: BlobIn,
    targets: Sequence[DeliveryTarget],
    *,
    internaldate: datetime,
    outbound: OutboundEnvelope | None,
) -> list[tuple[int, int]]:
    """Store a message once, file it into every target and queue it for ``outbound``."""
    keys = [_target_key(ctx.conn, t) for t in targets]
    size = len(blob.data)
    added: dict[int, int] = {}
    for key in keys:
        added[key.user_id] = added.get(key.user_id, 0) + size
    check_quota(ctx, added)
    refs = len(targets) + (1 if outbound is not None else 0)
    if refs == 0:
        return []
    _store_blob(ctx, blob, refs)
    by_mailbox: dict[int, list[int]] = {}
    for index, key in enumerate(keys):
        by_mailbox.setdefault(key.id, []).append(index)
    results: list[tuple[int, int]] = [(0, 0)] * len(targets)
    date = dt_to_text(internaldate)
    for indexes in by_mailbox.values():
        key = keys[indexes[0]]
        rows = [
            NewRow(blob.blob_id, encode_flags(flag_set(targets[i].flags)), date, size)
            for i in indexes
        ]
        for index, uid in zip(indexes, file_rows(ctx, key, rows, origin=None), strict=True):
            results[index] = (key.id, uid)
    if outbound is not None:
        queue.insert_entry(ctx, blob.blob_id, size, outbound)
    return results


def append(
    ctx: WriteContext,
    mailbox_id: int,
    blob: BlobIn,
    *,
    flags: frozenset[str],
    internaldate: datetime,
    origin: object,
    at_uid: int | None = None,
) -> tuple[int, int]:
    """IMAP APPEND into one mailbox, or one imported message (``at_uid``: the uid it
    keeps); returns (uidvalidity, uid)."""
    key = mailbox_key(ctx.conn, mailbox_id)
    stored_flags = encode_flags(flag_set(flags))
    check_quota(ctx, {key.user_id: len(blob.data)})
    _store_blob(ctx, blob, 1)
    row = NewRow(blob.blob_id, stored_flags, dt_to_text(internaldate), len(blob.data))
    (uid,) = file_rows(ctx, key, [row], origin=origin, at_uid=at_uid)
    return key.uidvalidity, uid


def copy(
    ctx: WriteContext,
    src_id: int,
    uids: Sequence[int],
    dst_id: int,
    *,
    move: bool,
    origin: object,
    holds: ViewHolds | None = None,
) -> list[tuple[int, int]]:
    """COPY or MOVE: new uids in the destination in source-uid order (RFC 6851 3.3)."""
    src = mailbox_key(ctx.conn, src_id)
    dst = mailbox_key(ctx.conn, dst_id)
    rows = ctx.conn.execute(
        "SELECT uid, flags, internaldate, size, blob_id FROM messages WHERE mailbox_id = ?"
        " AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid",
        (src_id, uid_json(uids)),
    ).fetchall()
    if not rows:
        return []
    if not (move and src.user_id == dst.user_id):
        check_quota(ctx, {dst.user_id: sum(r[3] for r in rows)})
    blobrefs.add_refs(ctx, blobrefs.count_refs((r[4],) for r in rows))
    new_rows = [NewRow(r[4], r[1], r[2], r[3]) for r in rows]
    new_uids = file_rows(ctx, dst, new_rows, origin=origin)
    if move:
        remove_rows(ctx, src, [r[0] for r in rows], origin=origin, holds=holds)
    return [(r[0], uid) for r, uid in zip(rows, new_uids, strict=True)]


def store_flags(
    ctx: WriteContext,
    mailbox_id: int,
    uids: Sequence[int],
    op: FlagOp,
    flags: frozenset[str],
    *,
    unchanged_since: int | None,
    origin: object,
) -> tuple[list[UidFlags], list[int]]:
    """STORE; messages failing UNCHANGEDSINCE are left alone (RFC 7162 3.1.3)."""
    key = mailbox_key(ctx.conn, mailbox_id)
    given = flag_set(flags)
    rows = ctx.conn.execute(
        "SELECT uid, modseq, flags FROM messages WHERE mailbox_id = ?"
        " AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid",
        (mailbox_id, uid_json(uids)),
    ).fetchall()
    failed: list[int] = []
    updates: list[tuple[int, str]] = []
    unseen = deleted = 0  # how the mailbox's counters move (schema v9)
    for uid, modseq, stored in rows:
        if unchanged_since is not None and modseq > unchanged_since:
            failed.append(uid)
            continue
        new = apply_flag_op(stored, op, given)
        if new != stored:
            updates.append((uid, new))
            before, after = stored.split(), new.split()
            unseen += (SEEN in before) - (SEEN in after)
            deleted += (DELETED in after) - (DELETED in before)
    if not updates:
        return [], failed
    modseq = bump_modseq(ctx, mailbox_id)
    ctx.conn.executemany(
        "UPDATE messages SET flags = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?",
        [(new, modseq, mailbox_id, uid) for uid, new in updates],
    )
    if unseen or deleted:  # the one path that changes flags counts them itself
        ctx.conn.execute(
            "UPDATE mailboxes SET unseen_count = unseen_count + ?,"
            " deleted_count = deleted_count + ? WHERE id = ?",
            (unseen, deleted, mailbox_id),
        )
    changes = [UidFlags(uid, modseq, decode_flags(new)) for uid, new in updates]
    ctx.events.append(FlagsChanged(key.user_id, mailbox_id, tuple(changes), modseq, origin))
    return changes, failed


def expunge(
    ctx: WriteContext, mailbox_id: int, uids: Sequence[int] | None, *, origin: object,
    holds: ViewHolds | None = None,
) -> list[int]:
    """Remove messages flagged \\Deleted, all or among ``uids`` (RFC 9051 6.4.3, 6.4.9)."""
    key = mailbox_key(ctx.conn, mailbox_id)
    sql = (
        "SELECT uid FROM messages WHERE mailbox_id = ?"
        " AND instr(' ' || flags || ' ', ?) > 0"
    )
    params: tuple[object, ...] = (mailbox_id, f" {DELETED} ")
    if uids is not None:
        sql += " AND uid IN (SELECT value FROM json_each(?))"
        params += (uid_json(uids),)
    doomed = [row[0] for row in ctx.conn.execute(sql, params)]
    return remove_rows(ctx, key, doomed, origin=origin, holds=holds)


def delete_messages(
    ctx: WriteContext, mailbox_id: int, uids: Sequence[int], *, origin: object,
    holds: ViewHolds | None = None,
) -> list[int]:
    """Remove exactly these messages, flagged or not."""
    key = mailbox_key(ctx.conn, mailbox_id)
    return remove_rows(ctx, key, uids, origin=origin, holds=holds)


def purge_mailbox(ctx: WriteContext, key: MailboxKey) -> None:
    """Remove every message of a mailbox that is about to be deleted (no events)."""
    ctx.conn.execute("DELETE FROM expunged WHERE mailbox_id = ?", (key.id,))
    removed = ctx.conn.execute(
        "DELETE FROM messages WHERE mailbox_id = ? RETURNING blob_id, size", (key.id,)
    ).fetchall()
    if removed:
        blobrefs.release(ctx, blobrefs.count_refs(removed))
        adjust_usage(ctx, key.user_id, size=-sum(r[1] for r in removed), count=-len(removed))
