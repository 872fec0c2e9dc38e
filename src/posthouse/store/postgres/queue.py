"""The outbound queue on PostgreSQL, worked by every node without double delivery.

``due`` claims what it returns: the rows are picked with ``FOR UPDATE SKIP LOCKED`` (two
nodes asking at once never get the same entry) and stamped ``claimed_by`` this node until
``claim_until`` (the lease, on the database's clock). Another node skips a claimed entry
until its lease expires, so the entries of a node that died are taken over after LEASE.
The claiming node sees its own claims again (its worker excludes what is in flight, and
each ``due`` renews the leases of those); ``reschedule`` and ``remove_queued`` end a claim.
"""

from __future__ import annotations

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
from posthouse.store.postgres import blobrefs
from posthouse.store.postgres.blobrefs import PgBlobIn
from posthouse.store.postgres.pool import Tx
from posthouse.store.sqlite.codec import from_micros, to_micros

LEASE_SECONDS = 600  # a claim a dead node left is taken over after this

_SELECT_ENTRY = (
    "SELECT id, blob_id, size, mail_from, envid, ret, smtputf8, body, sender_user_id, created,"
    " next_attempt, attempts, last_error, held, delay_warned, requiretls FROM queue"
)
_SELECT_RCPT = (
    "SELECT id, queue_id, address, state, notify, orcpt, last_reply, attempts FROM queue_rcpts"
)


async def insert_entry(tx: Tx, blob_id: str, size: int, envelope: OutboundEnvelope) -> int:
    """Add a queue entry for a blob the caller already holds a reference for."""
    now = to_micros(tx.now)
    row = await tx.one(
        "INSERT INTO queue (blob_id, size, mail_from, envid, ret, smtputf8, body,"
        " sender_user_id, created, next_attempt, requiretls)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (blob_id, size, envelope.mail_from, envelope.envid, envelope.ret, envelope.smtputf8,
         envelope.body, envelope.sender_user_id, now, now, envelope.requiretls))
    assert row is not None
    queue_id = int(row[0])
    await tx.many(
        "INSERT INTO queue_rcpts (queue_id, address, state, notify, orcpt)"
        " VALUES (%s, %s, %s, %s, %s)",
        [(queue_id, r.address, RecipientState.PENDING.value, ",".join(r.notify), r.orcpt)
         for r in envelope.recipients])
    return queue_id


async def enqueue(tx: Tx, blob: PgBlobIn, envelope: OutboundEnvelope) -> int:
    """Store the blob (or add a reference) and queue it."""
    await blobrefs.acquire(tx, blob, refs=1)
    return await insert_entry(tx, blob.blob_id, len(blob.data), envelope)


async def record_recipient_result(tx: Tx, recipient_id: int, *, delivered: bool, failed: bool,
                                  reply: str) -> None:
    """One try's outcome for one recipient; delivered/failed are final."""
    state = RecipientState.PENDING
    if delivered:
        state = RecipientState.DELIVERED
    elif failed:
        state = RecipientState.FAILED
    if not await tx.run("UPDATE queue_rcpts SET state = %s, last_reply = %s,"
                        " attempts = attempts + 1 WHERE id = %s",
                        (state.value, reply, recipient_id)):
        raise NotFound(f"no queued recipient {recipient_id}")


async def reschedule(tx: Tx, queue_id: int, next_attempt: datetime, *, error: str | None,
                     delay_warned: bool | None, count_attempt: bool = True) -> None:
    """Set when the next attempt is due and end the claim."""
    if not await tx.run(
        "UPDATE queue SET next_attempt = %s, last_error = %s, attempts = attempts + %s,"
        " delay_warned = coalesce(%s, delay_warned), claimed_by = NULL, claim_until = NULL"
        " WHERE id = %s",
        (to_micros(next_attempt), error, int(count_attempt), delay_warned, queue_id),
    ):
        raise NotFound(f"no queued message {queue_id}")


async def set_held(tx: Tx, queue_id: int, held: bool) -> None:
    """Hold or release an entry."""
    if not await tx.run("UPDATE queue SET held = %s WHERE id = %s", (held, queue_id)):
        raise NotFound(f"no queued message {queue_id}")


async def remove(tx: Tx, queue_id: int) -> None:
    """Drop an entry, its recipients and its blob reference."""
    row = await tx.one("DELETE FROM queue WHERE id = %s RETURNING blob_id", (queue_id,))
    if row is None:
        raise NotFound(f"no queued message {queue_id}")
    await blobrefs.release(tx, {row[0]: 1})


def _recipient(row: Sequence[Any]) -> QueuedRecipient:
    return QueuedRecipient(id=row[0], address=row[2], state=RecipientState(row[3]),
                           notify=tuple(row[4].split(",")) if row[4] else (), orcpt=row[5],
                           last_reply=row[6], attempts=row[7])


def _message(row: Sequence[Any], rcpts: list[QueuedRecipient]) -> QueuedMessage:
    envelope = OutboundEnvelope(
        mail_from=row[3],
        recipients=tuple(OutboundRecipient(r.address, r.notify, r.orcpt) for r in rcpts),
        envid=row[4], ret=row[5], smtputf8=bool(row[6]), body=row[7], sender_user_id=row[8],
        requiretls=bool(row[15]))
    return QueuedMessage(
        id=row[0], blob_id=row[1], size=row[2], envelope=envelope, recipients=tuple(rcpts),
        created=from_micros(row[9]), next_attempt=from_micros(row[10]), attempts=row[11],
        last_error=row[12], held=bool(row[13]), delay_warned=bool(row[14]))


async def _load(tx: Tx, where: str, params: Sequence[Any]) -> list[QueuedMessage]:
    entries = await tx.all(f"{_SELECT_ENTRY} {where}", params)
    if not entries:
        return []
    rcpts: dict[int, list[QueuedRecipient]] = {}
    for row in await tx.all(f"{_SELECT_RCPT} WHERE queue_id = ANY(%s) ORDER BY id",
                            ([int(r[0]) for r in entries],)):
        rcpts.setdefault(row[1], []).append(_recipient(row))
    return [_message(row, rcpts.get(row[0], [])) for row in entries]


async def due(tx: Tx, node: str, now: datetime, limit: int,
              exclude: Collection[int] = ()) -> list[QueuedMessage]:
    """Claim and return entries not held, due by ``now``, with a pending recipient, not in
    ``exclude`` and not claimed by another node under a live lease; oldest due first. The
    leases of this node's entries in ``exclude`` (in flight) are renewed."""
    if exclude:
        await tx.run("UPDATE queue SET claim_until = clock_timestamp()"
                     " + make_interval(secs => %s) WHERE id = ANY(%s) AND claimed_by = %s",
                     (LEASE_SECONDS, sorted(exclude), node))
    picked = await tx.all(
        "SELECT id FROM queue WHERE NOT held AND next_attempt <= %s"
        " AND EXISTS (SELECT 1 FROM queue_rcpts r WHERE r.queue_id = queue.id"
        " AND r.state = 'pending') AND NOT (id = ANY(%s))"
        " AND (claimed_by IS NULL OR claimed_by = %s OR claim_until < clock_timestamp())"
        " ORDER BY next_attempt, id LIMIT %s FOR UPDATE SKIP LOCKED",
        (to_micros(now), sorted(exclude), node, limit))
    ids = [int(r[0]) for r in picked]
    if not ids:
        return []
    await tx.run("UPDATE queue SET claimed_by = %s,"
                 " claim_until = clock_timestamp() + make_interval(secs => %s)"
                 " WHERE id = ANY(%s)", (node, LEASE_SECONDS, ids))
    return await _load(tx, "WHERE id = ANY(%s) ORDER BY next_attempt, id", (ids,))


async def get(tx: Tx, queue_id: int) -> QueuedMessage | None:
    """One entry, or None."""
    found = await _load(tx, "WHERE id = %s", (queue_id,))
    return found[0] if found else None


async def list_all(tx: Tx) -> list[QueuedMessage]:
    """Every entry, by id."""
    return await _load(tx, "ORDER BY id", ())
