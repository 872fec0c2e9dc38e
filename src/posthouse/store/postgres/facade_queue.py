"""The outbound-queue part of PostgresStore's async facade."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from posthouse.store.models import OutboundEnvelope, QueuedMessage
from posthouse.store.postgres import queue
from posthouse.store.postgres.core import PgCore


class PgQueueFacade(PgCore):
    """The durable outbound queue, shared by every node (claims with leases)."""

    async def enqueue(self, data: bytes, envelope: OutboundEnvelope) -> int:
        """Queue a message for remote recipients; returns the queue id."""
        blob = await self._blob_in(data)
        return await self._write(lambda tx: queue.enqueue(tx, blob, envelope))

    async def due(self, now: datetime, limit: int,
                  exclude: Collection[int] = ()) -> list[QueuedMessage]:
        """Claim due messages for this node (see queue.py), oldest first."""
        skip, node = frozenset(exclude), self.node
        return await self._write(lambda tx: queue.due(tx, node, now, limit, skip))

    async def get_queued(self, queue_id: int) -> QueuedMessage | None:
        """One queued message, or None."""
        return await self._read(lambda tx: queue.get(tx, queue_id))

    async def list_queue(self) -> list[QueuedMessage]:
        """Every queued message."""
        return await self._read(queue.list_all)

    async def record_recipient_result(self, recipient_id: int, *, delivered: bool,
                                      failed: bool, reply: str, durable: bool = True) -> None:
        """Record one recipient's outcome (always durable here: every commit is, with
        synchronous_commit = on, so ``durable`` changes nothing)."""
        del durable
        await self._write(lambda tx: queue.record_recipient_result(
            tx, recipient_id, delivered=delivered, failed=failed, reply=reply))

    async def reschedule(self, queue_id: int, next_attempt: datetime, *, error: str | None,
                         delay_warned: bool | None = None, count_attempt: bool = True) -> None:
        """Set the next attempt and end this node's claim (NotFound)."""
        await self._write(lambda tx: queue.reschedule(
            tx, queue_id, next_attempt, error=error, delay_warned=delay_warned,
            count_attempt=count_attempt))

    async def set_held(self, queue_id: int, held: bool) -> None:
        """Hold or release a queued message (NotFound)."""
        await self._write(lambda tx: queue.set_held(tx, queue_id, held))

    async def remove_queued(self, queue_id: int, *, settled: bool = False) -> None:
        """Drop a message from the queue and its blob reference (NotFound); always a
        durable commit here, so ``settled`` changes nothing."""
        del settled
        await self._write(lambda tx: queue.remove(tx, queue_id))
