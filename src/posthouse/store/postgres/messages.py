"""Writes to messages on PostgreSQL: deliver, append, copy/move, flags, expunge.

Every transaction that changes a mailbox bumps its highestmodseq once and stamps the rows it
adds or changes with that value (RFC 7162 3.1.1); uids come from uidnext and are never
reused. Both are taken with the mailbox row locked (counters.py), so two nodes never hand
out the same uid or modseq. A removed row leaves a tombstone in ``expunged`` for QRESYNC.
Mailbox rows are locked in id order where a job touches several (no deadlocks; a deadlock
would still only retry the transaction, see pool.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from posthouse.store.errors import InvalidMailboxName, NoSuchMailbox
from posthouse.store.events import FlagsChanged, MessagesAdded, MessagesExpunged
from posthouse.store.models import DELETED, DeliveryTarget, FlagOp, OutboundEnvelope, UidFlags
from posthouse.store.names import normalize_mailbox_name
from posthouse.store.postgres import blobrefs, holds, queue
from posthouse.store.postgres.blobrefs import PgBlobIn
from posthouse.store.postgres.counters import (
    PgMailboxKey,
    adjust_usage,
    bump_modseq,
    check_quota,
    mailbox_key,
    take_uid_at,
    take_uids,
)
from posthouse.store.postgres.pool import Tx
from posthouse.store.sqlite.codec import (
    apply_flag_op,
    decode_flags,
    dt_to_text,
    encode_flags,
    flag_set,
)

MAX_TOMBSTONES = 20_000  # per mailbox; older expunges are answered conservatively
# the removed rows, in the column order of holds.HELD_COLUMNS
_REMOVE = ("DELETE FROM messages WHERE mailbox_id = %s AND uid = ANY(%s)"
           " RETURNING uid, modseq, flags, internaldate, savedate, size, blob_id")


@dataclass(frozen=True, slots=True)
class PgNewRow:
    """One message row to file into a mailbox."""

    blob_id: str
    flags: str
    internaldate: str
    size: int


async def file_rows(tx: Tx, key: PgMailboxKey, rows: Sequence[PgNewRow], *, origin: object,
                    at_uid: int | None = None) -> list[int]:
    """Insert rows with fresh uids and one new modseq; returns the uids in order."""
    if at_uid is not None:
        assert len(rows) == 1
        first, modseq = at_uid, await take_uid_at(tx, key.id, at_uid)
    else:
        first, modseq = await take_uids(tx, key.id, len(rows))
    uids = list(range(first, first + len(rows)))
    savedate = dt_to_text(tx.now)
    await tx.many(
        "INSERT INTO messages (mailbox_id, uid, modseq, flags, internaldate, savedate, size,"
        " blob_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        [(key.id, uid, modseq, r.flags, r.internaldate, savedate, r.size, r.blob_id)
         for uid, r in zip(uids, rows, strict=True)])
    await adjust_usage(tx, key.user_id, size=sum(r.size for r in rows), count=len(rows))
    tx.events.append(MessagesAdded(key.user_id, key.id, tuple(uids), modseq, origin))
    return uids


async def remove_rows(tx: Tx, key: PgMailboxKey, uids: Sequence[int], *,
                      origin: object) -> list[int]:
    """Delete rows, drop their blob references and usage; returns the removed uids. Views
    open on the mailbox keep what they may still address (holds.py)."""
    if not uids:
        return []
    await lock_mailboxes(tx, [key.id])  # first: views are looked for under this lock
    removed = await tx.all(_REMOVE, (key.id, list(uids)))
    if not removed:
        return []
    modseq = await bump_modseq(tx, key.id)  # RFC 7162 3.1.10: EXPUNGE advances it too
    views = await holds.hold(tx, key.id, removed)
    counts = blobrefs.count_refs((r[6],) for r in removed)
    if views:
        await blobrefs.add_refs(tx, {b: n * views for b, n in counts.items()})
    await blobrefs.release(tx, counts)
    await adjust_usage(tx, key.user_id, size=-sum(r[5] for r in removed), count=-len(removed))
    gone = sorted(r[0] for r in removed)
    await tx.many(
        "INSERT INTO expunged (mailbox_id, uid, modseq, blob_id) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq,"
        " blob_id = excluded.blob_id",
        sorted((key.id, r[0], modseq, r[6]) for r in removed))
    await compact_tombstones(tx, key.id, MAX_TOMBSTONES)
    tx.events.append(MessagesExpunged(key.user_id, key.id, tuple(gone), modseq, origin))
    return gone


async def compact_tombstones(tx: Tx, mailbox_id: int, keep: int) -> int:
    """Keep at most ``keep`` newest tombstones; the floor rises to the newest dropped."""
    row = await tx.one("SELECT modseq FROM expunged WHERE mailbox_id = %s"
                       " ORDER BY modseq DESC LIMIT 1 OFFSET %s", (mailbox_id, keep))
    if row is None:
        return 0
    cutoff = int(row[0])
    dropped = await tx.run("DELETE FROM expunged WHERE mailbox_id = %s AND modseq <= %s",
                           (mailbox_id, cutoff))
    await tx.run("UPDATE mailboxes SET vanished_floor = greatest(vanished_floor, %s)"
                 " WHERE id = %s", (cutoff, mailbox_id))
    return dropped


async def lock_mailboxes(tx: Tx, mailbox_ids: Sequence[int]) -> None:
    """Lock mailbox rows for this transaction, in id order (the one lock order)."""
    await tx.all("SELECT id FROM mailboxes WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                 (sorted(set(mailbox_ids)),))


async def _target_key(tx: Tx, target: DeliveryTarget) -> PgMailboxKey:
    if target.special_use is not None:
        row = await tx.one("SELECT id, uidvalidity FROM mailboxes WHERE user_id = %s"
                           " AND special_use = %s ORDER BY id LIMIT 1",
                           (target.user_id, target.special_use))
        if row is not None:
            return PgMailboxKey(row[0], target.user_id, row[1])
    try:
        name = normalize_mailbox_name(target.mailbox)
    except InvalidMailboxName:
        raise NoSuchMailbox(f"no mailbox {target.mailbox!r}") from None
    row = await tx.one("SELECT id, uidvalidity FROM mailboxes WHERE user_id = %s AND name = %s",
                       (target.user_id, name))
    if row is None:
        raise NoSuchMailbox(f"user {target.user_id} has no mailbox {name!r}")
    return PgMailboxKey(row[0], target.user_id, row[1])


async def deliver(tx: Tx, blob: PgBlobIn, targets: Sequence[DeliveryTarget], *,
                  internaldate: datetime, outbound: OutboundEnvelope | None,
                  ) -> list[tuple[int, int]]:
    """Store a message once, file it into every target and queue it for ``outbound``."""
    keys = [await _target_key(tx, t) for t in targets]
    size = len(blob.data)
    added: dict[int, int] = {}
    for key in keys:
        added[key.user_id] = added.get(key.user_id, 0) + size
    await check_quota(tx, added)
    refs = len(targets) + (1 if outbound is not None else 0)
    if refs == 0:
        return []
    await blobrefs.acquire(tx, blob, refs=refs)
    by_mailbox: dict[int, list[int]] = {}
    for index, key in enumerate(keys):
        by_mailbox.setdefault(key.id, []).append(index)
    results: list[tuple[int, int]] = [(0, 0)] * len(targets)
    date = dt_to_text(internaldate)
    for mailbox_id in sorted(by_mailbox):  # lock order: mailbox ids ascending
        indexes = by_mailbox[mailbox_id]
        key = keys[indexes[0]]
        rows = [PgNewRow(blob.blob_id, encode_flags(flag_set(targets[i].flags)), date, size)
                for i in indexes]
        for index, uid in zip(indexes, await file_rows(tx, key, rows, origin=None),
                              strict=True):
            results[index] = (key.id, uid)
    if outbound is not None:
        await queue.insert_entry(tx, blob.blob_id, size, outbound)
    return results


async def append(tx: Tx, mailbox_id: int, blob: PgBlobIn, *, flags: frozenset[str],
                 internaldate: datetime, origin: object,
                 at_uid: int | None = None) -> tuple[int, int]:
    """IMAP APPEND into one mailbox, or one imported message (``at_uid``); returns
    (uidvalidity, uid)."""
    key = await mailbox_key(tx, mailbox_id)
    stored_flags = encode_flags(flag_set(flags))
    await check_quota(tx, {key.user_id: len(blob.data)})
    await blobrefs.acquire(tx, blob, refs=1)
    row = PgNewRow(blob.blob_id, stored_flags, dt_to_text(internaldate), len(blob.data))
    (uid,) = await file_rows(tx, key, [row], origin=origin, at_uid=at_uid)
    return key.uidvalidity, uid


async def copy(tx: Tx, src_id: int, uids: Sequence[int], dst_id: int, *, move: bool,
               origin: object) -> list[tuple[int, int]]:
    """COPY or MOVE: new uids in the destination in source-uid order (RFC 6851 3.3)."""
    src = await mailbox_key(tx, src_id)
    dst = await mailbox_key(tx, dst_id)
    await lock_mailboxes(tx, [src_id, dst_id])
    rows = await tx.all(
        "SELECT uid, flags, internaldate, size, blob_id FROM messages WHERE mailbox_id = %s"
        " AND uid = ANY(%s) ORDER BY uid", (src_id, list(uids)))
    if not rows:
        return []
    if not (move and src.user_id == dst.user_id):
        await check_quota(tx, {dst.user_id: sum(r[3] for r in rows)})
    await blobrefs.add_refs(tx, blobrefs.count_refs((r[4],) for r in rows))
    new_rows = [PgNewRow(r[4], r[1], r[2], r[3]) for r in rows]
    new_uids = await file_rows(tx, dst, new_rows, origin=origin)
    if move:
        await remove_rows(tx, src, [r[0] for r in rows], origin=origin)
    return [(r[0], uid) for r, uid in zip(rows, new_uids, strict=True)]


async def store_flags(tx: Tx, mailbox_id: int, uids: Sequence[int], op: FlagOp,
                      flags: frozenset[str], *, unchanged_since: int | None,
                      origin: object) -> tuple[list[UidFlags], list[int]]:
    """STORE; messages failing UNCHANGEDSINCE are left alone (RFC 7162 3.1.3)."""
    given = flag_set(flags)
    row = await tx.one("SELECT user_id FROM mailboxes WHERE id = %s FOR UPDATE", (mailbox_id,))
    if row is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    user_id = int(row[0])
    rows = await tx.all("SELECT uid, modseq, flags FROM messages WHERE mailbox_id = %s"
                        " AND uid = ANY(%s) ORDER BY uid", (mailbox_id, list(uids)))
    failed: list[int] = []
    updates: list[tuple[int, str]] = []
    for uid, modseq, stored in rows:
        if unchanged_since is not None and modseq > unchanged_since:
            failed.append(uid)
            continue
        new = apply_flag_op(stored, op, given)
        if new != stored:
            updates.append((uid, new))
    if not updates:
        return [], failed
    modseq = await bump_modseq(tx, mailbox_id)
    await tx.many("UPDATE messages SET flags = %s, modseq = %s WHERE mailbox_id = %s"
                  " AND uid = %s", [(new, modseq, mailbox_id, uid) for uid, new in updates])
    changes = [UidFlags(uid, modseq, decode_flags(new)) for uid, new in updates]
    tx.events.append(FlagsChanged(user_id, mailbox_id, tuple(changes), modseq, origin))
    return changes, failed


async def expunge(tx: Tx, mailbox_id: int, uids: Sequence[int] | None, *,
                  origin: object) -> list[int]:
    """Remove messages flagged \\Deleted, all or among ``uids`` (RFC 9051 6.4.3, 6.4.9)."""
    key = await mailbox_key(tx, mailbox_id)
    await lock_mailboxes(tx, [mailbox_id])
    sql = ("SELECT uid FROM messages WHERE mailbox_id = %s"
           " AND strpos(' ' || flags || ' ', %s) > 0")
    params: tuple[object, ...] = (mailbox_id, f" {DELETED} ")
    if uids is not None:
        sql += " AND uid = ANY(%s)"
        params += (list(uids),)
    doomed = [row[0] for row in await tx.all(sql, params)]
    return await remove_rows(tx, key, doomed, origin=origin)


async def delete_messages(tx: Tx, mailbox_id: int, uids: Sequence[int], *,
                          origin: object) -> list[int]:
    """Remove exactly these messages, flagged or not."""
    key = await mailbox_key(tx, mailbox_id)
    return await remove_rows(tx, key, uids, origin=origin)


async def purge_mailbox(tx: Tx, key: PgMailboxKey) -> None:
    """Remove every message of a mailbox that is about to be deleted (no events)."""
    await tx.run("DELETE FROM expunged WHERE mailbox_id = %s", (key.id,))
    removed = await tx.all("DELETE FROM messages WHERE mailbox_id = %s RETURNING blob_id, size",
                           (key.id,))
    if removed:
        await blobrefs.release(tx, blobrefs.count_refs(removed))
        await adjust_usage(tx, key.user_id, size=-sum(r[1] for r in removed),
                           count=-len(removed))
