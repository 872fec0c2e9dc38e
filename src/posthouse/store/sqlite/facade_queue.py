"""The outbound-queue part of SqliteStore's async facade.

With worker processes (``siblings``) every worker runs a queue worker, and an entry is
claimed by the process that takes it from ``due``: a record lock on byte ``id`` of
``run/queue.lock`` (store/process_locks.py), held until ``reschedule`` or ``remove_queued``
ends the try, or until the process dies (the kernel drops it: another worker takes the
entry over at once). A claim is taken after the candidates are read and the entry read
again after it, so an entry another worker finished meanwhile (its lock is given back only
after its commit) is not sent twice.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from posthouse.store.models import OutboundEnvelope, QueuedMessage
from posthouse.store.process_locks import ByteLocks
from posthouse.store.sqlite import queue
from posthouse.store.sqlite.core import StoreCore
from posthouse.store.sqlite.writer import WriteContext


class QueueFacade(StoreCore):
    """The durable outbound queue."""

    _claims: ByteLocks | None = None

    def _queue_claims(self) -> ByteLocks | None:
        """The claims of this worker process; None when it is the only process."""
        if self.siblings is None:
            return None
        if self._claims is None:
            self._claims = ByteLocks(self.siblings.run_dir / "queue.lock")
        return self._claims

    def _end_claim(self, queue_id: int) -> None:
        claims = self._queue_claims()
        if claims is not None:
            claims.unlock(queue_id)

    async def enqueue(self, data: bytes, envelope: OutboundEnvelope) -> int:
        """Queue a message for remote recipients; returns the queue id."""
        blob, fresh = await self._blob_in(data)
        return await self._write(
            lambda ctx: queue.enqueue(ctx, blob.blob_id, blob.data, envelope), fresh_blobs=fresh
        )

    async def due(self, now: datetime, limit: int,
                  exclude: Collection[int] = ()) -> list[QueuedMessage]:
        """Messages not held whose next attempt is due, oldest first, except ``exclude``;
        with worker processes, only those this process could claim (module docstring)."""
        skip = frozenset(exclude)
        claims = self._queue_claims()
        if claims is None:
            return await self._read(lambda conn: queue.due(conn, now, limit, skip))
        found = await self._read(lambda conn: queue.due(conn, now, limit, skip))
        mine = {m.id for m in found if claims.try_lock(m.id)}
        if not mine:
            return []
        again = await self._read(lambda conn: queue.due_among(conn, now, mine))
        for gone in mine - {m.id for m in again}:  # finished by another worker meanwhile
            claims.unlock(gone)
        return again

    async def get_queued(self, queue_id: int) -> QueuedMessage | None:
        """One queued message, or None."""
        return await self._read(lambda conn: queue.get(conn, queue_id))

    async def list_queue(self) -> list[QueuedMessage]:
        """Every queued message."""
        return await self._read(queue.list_all)

    async def record_recipient_result(
        self, recipient_id: int, *, delivered: bool, failed: bool, reply: str,
        durable: bool = True,
    ) -> None:
        """Record one recipient's outcome; delivered/failed end it, neither means retry.
        ``durable=False``: a lazy write (durable with the next commit)."""
        def job(ctx: WriteContext) -> None:
            queue.record_recipient_result(
                ctx, recipient_id, delivered=delivered, failed=failed, reply=reply
            )

        await (self._write(job) if durable else self._write_lazy(job))

    async def reschedule(
        self, queue_id: int, next_attempt: datetime, *, error: str | None,
        delay_warned: bool | None = None, count_attempt: bool = True,
    ) -> None:
        """Set the next attempt, counting one unless ``count_attempt`` is False (NotFound)."""
        try:
            await self._write(
                lambda ctx: queue.reschedule(
                    ctx, queue_id, next_attempt, error=error, delay_warned=delay_warned,
                    count_attempt=count_attempt,
                )
            )
        finally:
            self._end_claim(queue_id)

    async def set_held(self, queue_id: int, held: bool) -> None:
        """Hold or release a queued message (NotFound)."""
        await self._write(lambda ctx: queue.set_held(ctx, queue_id, held))

    async def remove_queued(self, queue_id: int, *, settled: bool = False) -> None:
        """Drop a message from the queue and its blob reference (NotFound). ``settled``: a
        lazy write (no fsync of its own; durable with the next commit)."""
        try:
            if not settled:
                await self._write(lambda ctx: queue.remove(ctx, queue_id))
                return
            await self._write_lazy(lambda ctx: queue.remove(ctx, queue_id))
        finally:
            self._end_claim(queue_id)
