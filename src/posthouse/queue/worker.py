"""The queue worker: picks due messages, hands their recipients to per-domain lanes, settles.

Built by app.py (``build_worker``), which gives it the way to reach peers (``opener``), the
DKIM keys and the router its notices take: it makes only its own parts (lanes, notifier,
settler). Started by App as a background task (``run``); ``wake`` makes it look at the queue
at once (the SMTP side calls it after an enqueue). Without a wake it polls every
``poll_seconds``, so ``posthouse queue retry`` from the CLI and retries that fall due are
picked up as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from posthouse.clock import Clock
from posthouse.config import Config
from posthouse.delivery.router import Router
from posthouse.mailauth.dkim import DkimKeys
from posthouse.message.address import domain_of
from posthouse.metrics import DISCARD, ServerMetrics
from posthouse.queue.content import tls_optional
from posthouse.queue.jobs import Job, Kind, Opener, RecipientOutcome, TlsDemand
from posthouse.queue.lanes import Lanes
from posthouse.queue.notify import Notifier
from posthouse.queue.prepare import prepare
from posthouse.queue.settle import Settler
from posthouse.store.api import Store
from posthouse.store.errors import StorageFull, StoreError
from posthouse.store.models import QueuedMessage, QueuedRecipient, RecipientState

log = logging.getLogger("posthouse.queue")

# Messages being tried are held in memory (read once, sent to every domain); this bounds it.
DEFAULT_INFLIGHT_BYTES = 256 * 1024 * 1024


class QueueWorker:
    """Delivers the outbound queue; one per running server."""

    def __init__(self, *, store: Store, config: Config, clock: Clock, opener: Opener,
                 router: Router, dkim_keys: DkimKeys | None = None, poll_seconds: float = 1.0,
                 max_inflight: int | None = None,
                 max_inflight_bytes: int = DEFAULT_INFLIGHT_BYTES,
                 metrics: ServerMetrics = DISCARD, sweep: bool = True) -> None:
        qcfg = config.queue
        self._store = store
        # the sweep at start: the primary's only, when several worker processes share the
        # queue (another one may be settling the entry it would remove)
        self._sweep_at_start = sweep
        self._cfg = config
        self._clock = clock
        self._dkim = dkim_keys
        self._poll = poll_seconds
        self._max_inflight = max_inflight or max(100, qcfg.concurrency * 10)
        self._max_bytes = max_inflight_bytes
        self._inflight: dict[int, int] = {}  # queue id -> size held in memory
        self._recorded: set[int] = set()  # recipients of in-flight messages recorded delivered
        self._saturated = False
        self._wakeup = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._lanes = Lanes(per_domain=qcfg.concurrency_per_domain, overall=qcfg.concurrency,
                            opener=opener, spawn=self._spawn)
        notifier = Notifier(store, router, hostname=config.server.hostname, wake=self.wake)
        self._settler = Settler(store, qcfg, clock, notifier, metrics)

    def wake(self) -> None:
        """Look at the queue now (safe to call from the event loop's thread only)."""
        self._wakeup.set()

    @property
    def inflight(self) -> frozenset[int]:
        """Queue ids being tried right now."""
        return frozenset(self._inflight)

    def _room(self, message: QueuedMessage) -> bool:
        """Whether one more message fits the in-flight limits (one always fits)."""
        if not self._inflight:
            return True
        return (len(self._inflight) < self._max_inflight
                and sum(self._inflight.values()) + message.size <= self._max_bytes)

    async def run(self) -> None:
        """Work until cancelled; cancelling stops every try in progress (the durable state
        is consistent at every await: see settle.py)."""
        try:
            if self._sweep_at_start:
                await self._sweep()
            while True:
                try:
                    await self._tick()
                except Exception:  # keep the queue alive; the next tick tries again
                    log.exception("queue tick failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._poll)
                self._wakeup.clear()
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.wait(self._tasks)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _sweep(self) -> None:
        """Remove entries left with no pending recipient by a crash after their last
        result and before their removal (their notices were stored first)."""
        try:
            for item in await self._store.list_queue():
                if not any(r.state is RecipientState.PENDING for r in item.recipients):
                    await self._store.remove_queued(item.id)
        except StoreError:
            log.exception("queue sweep failed")

    async def _tick(self) -> None:
        room = self._max_inflight - len(self._inflight)
        self._saturated = room <= 0
        if room <= 0:
            return
        try:
            due = await self._store.due(self._clock.now(), room, exclude=self._inflight)
        except StoreError:
            log.exception("cannot read the queue")
            return
        for message in due:
            if message.id in self._inflight:
                continue
            if not self._room(message):
                self._saturated = True
                return
            self._inflight[message.id] = message.size
            self._spawn(self._process(message))
        self._saturated = len(self._inflight) >= self._max_inflight

    async def _process(self, message: QueuedMessage) -> None:
        try:
            await self._try(message)
        except StorageFull as exc:  # the store logged the full disk once: no traceback here
            log.warning("queue id=%s: %s, will retry", message.id, exc)
        except StoreError:
            log.exception("queue id=%s: store error, will retry", message.id)
        except Exception:
            log.exception("queue id=%s: unexpected error, will retry", message.id)
        finally:
            self._inflight.pop(message.id, None)
            if self._saturated:
                self.wake()

    async def _try(self, message: QueuedMessage) -> None:
        """One try of every pending recipient, then settle."""
        pending = [r for r in message.recipients if r.state is RecipientState.PENDING]
        original = b""
        outcomes: dict[int, RecipientOutcome] = {}
        try:
            original = await self._store.read_blob(message.blob_id)
            data = await prepare(message, original, store=self._store, keys=self._dkim,
                                 clock=self._clock)
        except Exception:  # a lost blob or broken key must not stop the queue: retry later
            log.exception("queue id=%s: cannot prepare the message", message.id)
        else:
            outcomes = await self._deliver(message, pending, data)
        try:
            if self._settler.all_delivered(pending, outcomes, self._recorded):
                # The common case, without reading the entry back: see settle.py.
                await self._settler.remove_delivered(message.id)
            else:
                await self._settler.settle(message.id, original, outcomes)
        finally:
            self._recorded.difference_update(r.id for r in pending)

    async def _deliver(self, message: QueuedMessage, pending: list[QueuedRecipient],
                       data: bytes) -> dict[int, RecipientOutcome]:
        by_domain: dict[str, list[QueuedRecipient]] = {}
        for rcpt in pending:
            by_domain.setdefault(domain_of(rcpt.address), []).append(rcpt)
        # RFC 8689 5: the header is ignored on a message sent with REQUIRETLS.
        demand = (TlsDemand.REQUIRETLS if message.envelope.requiretls
                  else TlsDemand.OPTIONAL if tls_optional(data) else TlsDemand.POLICY)
        jobs = [Job(message, domain, tuple(rcpts), data, self._record, demand)
                for domain, rcpts in by_domain.items()]
        for job in jobs:
            self._lanes.add(job)
        for job in jobs:
            await job.done.wait()
        return {rid: o for job in jobs for rid, o in job.outcomes.items()}

    async def _record(self, rcpt: QueuedRecipient, outcome: RecipientOutcome) -> None:
        """A remote 250 is recorded before the hop connection sends anything else.

        The record is committed without an fsync of its own (durable with the next commit,
        which under load is a moment later): a power failure in between makes the message
        go out once more, a duplicate and never a loss; a crash of the process alone loses
        nothing (WAL). A durable record here cost the relay an fsync per message, which
        the next message's acceptance waited behind."""
        if outcome.kind is Kind.DELIVERED:
            await self._store.record_recipient_result(
                rcpt.id, delivered=True, failed=False, reply=outcome.summary(), durable=False)
            self._recorded.add(rcpt.id)

