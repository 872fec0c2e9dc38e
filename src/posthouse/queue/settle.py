"""After a try: notices first, then the recipients' states, then reschedule or remove.

Order matters for crash safety. Deliveries were recorded the moment the remote said 250.
Here a failure notice is stored (durably) BEFORE its recipients are marked failed, so a crash
in between repeats the try and at worst the notice, and never loses it. The entry is removed
only when no recipient is pending any more, after its notices exist.

The usual try ends with every pending recipient delivered, each delivery durably recorded
already and no success notice asked for (``all_delivered``): then the entry is dropped without
reading it back, by a removal that needs no fsync of its own (a crash that loses it leaves an
entry without pending recipients, which the worker's start-up sweep removes).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from posthouse.clock import Clock
from posthouse.config import QueueConfig
from posthouse.delivery.dsn import DELAYED, FAILED, RELAYED, wants
from posthouse.metrics import DISCARD, ServerMetrics
from posthouse.queue.jobs import Kind, RecipientOutcome
from posthouse.queue.notify import Notifier, report
from posthouse.queue.scheduler import delay_warning_due, expires_at, is_expired, next_attempt
from posthouse.store.api import Store
from posthouse.store.errors import NotFound
from posthouse.store.models import QueuedMessage, QueuedRecipient, RecipientState

Pair = tuple[QueuedRecipient, RecipientOutcome]
_NOT_TRIED = RecipientOutcome.local(permanent=False, status="4.3.0", text="not attempted")


def _expired(outcome: RecipientOutcome, days: float) -> RecipientOutcome:
    """The last outcome of a recipient whose message expired (RFC 3463 X.4.7)."""
    note = f"gave up after {days:g} days"
    if outcome.remote_reply:
        return replace(outcome, kind=Kind.PERMANENT, status="4.4.7")
    return replace(outcome, kind=Kind.PERMANENT, status="4.4.7", text=f"{outcome.text}; {note}")


class Settler:
    """Turns the outcomes of one try of one message into durable state."""

    def __init__(self, store: Store, config: QueueConfig, clock: Clock,
                 notifier: Notifier, metrics: ServerMetrics = DISCARD) -> None:
        self._store = store
        self._metrics = metrics  # relayed and bounced recipients
        self._cfg = config
        self._clock = clock
        self._notifier = notifier

    @staticmethod
    def all_delivered(pending: list[QueuedRecipient],
                      outcomes: dict[int, RecipientOutcome], recorded: set[int]) -> bool:
        """Whether this try delivered every pending recipient, recorded each delivery and
        owes no notice (a relayed notice: NOTIFY=SUCCESS to a hop that could not pass the
        DSN request on, RFC 3461 5.2.2)."""
        if not pending:
            return False
        for rcpt in pending:
            outcome = outcomes.get(rcpt.id)
            if outcome is None or outcome.kind is not Kind.DELIVERED or rcpt.id not in recorded:
                return False
            if not outcome.dsn_passed and wants(rcpt.notify, RELAYED):
                return False
        return True

    async def remove_delivered(self, queue_id: int) -> None:
        """Drop an entry whose every recipient is recorded delivered."""
        try:
            await self._store.remove_queued(queue_id, settled=True)
        except NotFound:  # deleted by the admin meanwhile
            return

    async def settle(self, queue_id: int, original: bytes, outcomes: dict[int, RecipientOutcome],
                     ) -> None:
        """Apply ``outcomes`` (recipient id -> outcome) to the queue entry."""
        current = await self._store.get_queued(queue_id)
        if current is None:  # deleted by the admin meanwhile
            return
        now = self._clock.now()
        failed, retry = await self._split(current, outcomes)
        if retry and is_expired(current.created, now, self._cfg.expire_seconds):
            days = self._cfg.expire_seconds / 86400
            failed += [(r, _expired(o, days)) for r, o in retry]
            retry = []
        relayed = [(r, o) for r in current.recipients
                   if (o := outcomes.get(r.id)) is not None and o.kind is Kind.DELIVERED
                   and not o.dsn_passed]
        await self._notify(current, original, FAILED, failed, now)
        await self._notify(current, original, RELAYED, relayed, now)
        self._metrics.bounced(len(failed))
        self._metrics.relayed(sum(  # this try's deliveries (recorded as they happened)
            1 for r in current.recipients
            if (o := outcomes.get(r.id)) is not None and o.kind is Kind.DELIVERED))
        for rcpt, outcome in failed:
            await self._store.record_recipient_result(
                rcpt.id, delivered=False, failed=True, reply=outcome.summary())
        for rcpt, outcome in retry:
            await self._store.record_recipient_result(
                rcpt.id, delivered=False, failed=False, reply=outcome.summary())
        if retry:
            await self._reschedule(current, original, retry, now)
        else:
            await self._store.remove_queued(queue_id)

    async def _split(self, current: QueuedMessage, outcomes: dict[int, RecipientOutcome],
                     ) -> tuple[list[Pair], list[Pair]]:
        """Pending recipients by outcome: (permanent failures, to retry)."""
        failed: list[Pair] = []
        retry: list[Pair] = []
        for rcpt in current.recipients:
            if rcpt.state is not RecipientState.PENDING:
                continue
            outcome = outcomes.get(rcpt.id, _NOT_TRIED)
            if outcome.kind is Kind.DELIVERED:  # its immediate recording failed: once more
                await self._store.record_recipient_result(
                    rcpt.id, delivered=True, failed=False, reply=outcome.summary())
            elif outcome.kind is Kind.PERMANENT:
                failed.append((rcpt, outcome))
            else:
                retry.append((rcpt, outcome))
        return failed, retry

    async def _reschedule(self, current: QueuedMessage, original: bytes, retry: list[Pair],
                          now: datetime) -> None:
        cfg = self._cfg
        warn = delay_warning_due(current.created, now, cfg.delay_warning_seconds,
                                 already_warned=current.delay_warned)
        warn = warn and any(wants(r.notify, DELAYED) for r, _ in retry)
        if warn:
            await self._notify(current, original, DELAYED, retry, now)
        when = next_attempt(now, current.attempts + 1, initial=cfg.retry_initial_seconds,
                            cap=cfg.retry_max_seconds)
        await self._store.reschedule(current.id, when, error=retry[0][1].summary(),
                                     delay_warned=True if warn else None)

    async def _notify(self, current: QueuedMessage, original: bytes, action: str,
                      pairs: list[Pair], now: datetime) -> None:
        if not pairs:
            return
        until = expires_at(current.created, self._cfg.expire_seconds) if action == DELAYED \
            else None
        reports = [(r, report(r, o, action, when=now, retry_until=until)) for r, o in pairs]
        await self._notifier.notify(current, original, action, reports, now)
