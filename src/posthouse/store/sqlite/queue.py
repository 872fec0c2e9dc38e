"""The outbound queue: entries holding a blob reference, and per-recipient progress."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from posthouse.store.errors import NotFound
from posthouse.store.models import (
    OutboundEnvelope,
    OutboundRecipient,
    QueuedMessage,
    QueuedRecipient,
    RecipientState,
)
from posthouse.store.sqlite import blobrefs
from posthouse.store.sqlite.codec import from_micros, to_micros
from posthouse.store.sqlite.writer import WriteContext

_SELECT_ENTRY = (
    "SELECT id, blob_id, size, mail_from, envid, ret, smtputf8, body, sender_user_id, created,"
    " next_attempt, attempts, last_error, held, delay_warned, requiretls FROM queue"
)
_SELECT_RCPT = (
    "SELECT id, queue_id, address, state, notify, orcpt, last_reply, attempts FROM queue_rcpts"
)


def insert_entry(ctx: WriteContext, blob_id: str, size: int, envelope: OutboundEnvelope) -> int:
    """Add a queue entry for a blob the caller already holds a reference for."""
    now = to_micros(ctx.now)
    row = ctx.conn.execute(
        "INSERT INTO queue (blob_id, size, mail_from, envid, ret, smtputf8, body,"
        " sender_user_id, created, next_attempt, requiretls)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            blob_id, size, envelope.mail_from, envelope.envid, envelope.ret,
            int(envelope.smtputf8), envelope.body, envelope.sender_user_id, now, now,
            int(envelope.requiretls),
        ),
    ).fetchone()
    queue_id = int(row[0])
    ctx.conn.executemany(
        "INSERT INTO queue_rcpts (queue_id, address, state, notify, orcpt)"
        " VALUES (?, ?, ?, ?, ?)",
        [
            (queue_id, r.address, RecipientState.PENDING.value, ",".join(r.notify), r.orcpt)
            for r in envelope.recipients
        ],
    )
    return queue_id


def enqueue(ctx: WriteContext, blob_id: str, data: bytes, envelope: OutboundEnvelope) -> int:
    """Store the blob (or add a reference) and queue it."""
    blobrefs.acquire(ctx, blob_id, data, refs=1)
    return insert_entry(ctx, blob_id, len(data), envelope)


def record_recipient_result(
    ctx: WriteContext, recipient_id: int, *, delivered: bool, failed: bool, reply: str
) -> None:
    """One try's outcome for one recipient; delivered/failed are final."""
    state = RecipientState.PENDING
    if delivered:
        state = RecipientState.DELIVERED
    elif failed:
        state = RecipientState.FAILED
    cur = ctx.conn.execute(
        "UPDATE queue_rcpts SET state = ?, last_reply = ?, attempts = attempts + 1"
        " WHERE id = ?",
        (state.value, reply, recipient_id),
    )
    if not cur.rowcount:
        raise NotFound(f"no queued recipient {recipient_id}")


def reschedule(
    ctx: WriteContext,
    queue_id: int,
    next_attempt: datetime,
    *,
    error: str | None,
    delay_warned: bool | None,
    count_attempt: bool = True,
) -> None:
    """Set when the next attempt is due, counting the one just made unless told not to."""
    cur = ctx.conn.execute(
        "UPDATE queue SET next_attempt = ?, last_error = ?, attempts = attempts + ?,"
        " delay_warned = coalesce(?, delay_warned) WHERE id = ?",
        (
            to_micros(next_attempt),
            error,
            int(count_attempt),
            None if delay_warned is None else int(delay_warned),
            queue_id,
        ),
    )
    if not cur.rowcount:
        raise NotFound(f"no queued message {queue_id}")


def set_held(ctx: WriteContext, queue_id: int, held: bool) -> None:
    """Hold or release an entry."""
    cur = ctx.conn.execute("UPDATE queue SET held = ? WHERE id = ?", (int(held), queue_id))
    if not cur.rowcount:
        raise NotFound(f"no queued message {queue_id}")


def remove(ctx: WriteContext, queue_id: int) -> None:
    """Drop an entry, its recipients and its blob reference."""
    ctx.conn.execute("DELETE FROM queue_rcpts WHERE queue_id = ?", (queue_id,))
    row = ctx.conn.execute(
        "DELETE FROM queue WHERE id = ? RETURNING blob_id", (queue_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no queued message {queue_id}")
    blobrefs.release(ctx, {row[0]: 1})


def _recipient(row: Sequence[Any]) -> QueuedRecipient:
    return QueuedRecipient(
        id=row[0],
        address=row[2],
        state=RecipientState(row[3]),
        notify=tuple(row[4].split(",")) if row[4] else (),
        orcpt=row[5],
        last_reply=row[6],
        attempts=row[7],
    )


def _message(row: Sequence[Any], rcpts: list[QueuedRecipient]) -> QueuedMessage:
    envelope = OutboundEnvelope(
        mail_from=row[3],
        recipients=tuple(OutboundRecipient(r.address, r.notify, r.orcpt) for r in rcpts),
        envid=row[4],
        ret=row[5],
        smtputf8=bool(row[6]),
        body=row[7],
        sender_user_id=row[8],
        requiretls=bool(row[15]),
    )
    return QueuedMessage(
        id=row[0],
        blob_id=row[1],
        size=row[2],
        envelope=envelope,
        recipients=tuple(rcpts),
        created=from_micros(row[9]),
        next_attempt=from_micros(row[10]),
        attempts=row[11],
        last_error=row[12],
        held=bool(row[13]),
        delay_warned=bool(row[14]),
    )


def _load(conn: sqlite3.Connection, where: str, params: tuple[object, ...]) -> list[QueuedMessage]:
    entries = conn.execute(f"{_SELECT_ENTRY} {where}", params).fetchall()
    if not entries:
        return []
    ids = ",".join(str(int(row[0])) for row in entries)
    rcpts: dict[int, list[QueuedRecipient]] = {}
    for row in conn.execute(
        f"{_SELECT_RCPT} WHERE queue_id IN ({ids}) ORDER BY id"
    ):
        rcpts.setdefault(row[1], []).append(_recipient(row))
    return [_message(row, rcpts.get(row[0], [])) for row in entries]


def due(conn: sqlite3.Connection, now: datetime, limit: int,
        exclude: Collection[int] = ()) -> list[QueuedMessage]:
    """Entries not held, due by ``now``, with a pending recipient, not in ``exclude``;
    oldest due first."""
    return _load(
        conn,
        "WHERE held = 0 AND next_attempt <= ? AND EXISTS (SELECT 1 FROM queue_rcpts r"
        " WHERE r.queue_id = queue.id AND r.state = 'pending')"
        " AND id NOT IN (SELECT value FROM json_each(?))"
        " ORDER BY next_attempt, id LIMIT ?",
        (to_micros(now), json.dumps(sorted(exclude)), limit),
    )


def due_among(conn: sqlite3.Connection, now: datetime,
              ids: Collection[int]) -> list[QueuedMessage]:
    """Those of ``ids`` that ``due`` would still return; oldest due first."""
    return _load(
        conn,
        "WHERE held = 0 AND next_attempt <= ? AND EXISTS (SELECT 1 FROM queue_rcpts r"
        " WHERE r.queue_id = queue.id AND r.state = 'pending')"
        " AND id IN (SELECT value FROM json_each(?))"
        " ORDER BY next_attempt, id",
        (to_micros(now), json.dumps(sorted(ids))),
    )


def get(conn: sqlite3.Connection, queue_id: int) -> QueuedMessage | None:
    """One entry, or None."""
    found = _load(conn, "WHERE id = ?", (queue_id,))
    return found[0] if found else None


def list_all(conn: sqlite3.Connection) -> list[QueuedMessage]:
    """Every entry, by id."""
    return _load(conn, "ORDER BY id", ())
