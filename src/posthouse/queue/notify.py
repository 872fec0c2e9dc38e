"""Sending delivery status notifications to the original sender.

A DSN goes from the null reverse-path (RFC 3461 6.2, RFC 5321 4.5.5), so it can never cause
another one. A local sender gets it in their INBOX (through the same router as any local
recipient: aliases and plus-addresses work); a remote sender gets it through the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from posthouse.delivery.headers import return_path_field
from posthouse.delivery.router import Router
from posthouse.message.summary import summarize
from posthouse.queue.dsn import Dsn, RecipientReport, build_dsn, wants
from posthouse.queue.jobs import RecipientOutcome
from posthouse.store.api import Store
from posthouse.store.errors import StoreError
from posthouse.store.models import (
    DeliveryTarget,
    NewMessage,
    OutboundEnvelope,
    OutboundRecipient,
    QueuedMessage,
    QueuedRecipient,
)

log = logging.getLogger("posthouse.queue")


def report(rcpt: QueuedRecipient, outcome: RecipientOutcome, action: str, *, when: datetime,
           retry_until: datetime | None = None) -> RecipientReport:
    """The delivery-status fields of one recipient from its latest outcome."""
    return RecipientReport(
        address=rcpt.address, action=action, status=outcome.status, orcpt=rcpt.orcpt,
        remote_mta=outcome.remote_mta,
        diagnostic=outcome.text if outcome.remote_reply else None,
        last_attempt=when, will_retry_until=retry_until,
        explanation=None if outcome.remote_reply else outcome.text)


class Notifier:
    """Builds DSNs and hands them to the store."""

    def __init__(self, store: Store, *, hostname: str, wake: Callable[[], None]) -> None:
        self._store = store
        self._router = Router(store)
        self._hostname = hostname
        self._wake = wake

    async def notify(self, message: QueuedMessage, original: bytes, action: str,
                     reports: Sequence[tuple[QueuedRecipient, RecipientReport]],
                     now: datetime) -> None:
        """Send one DSN of ``action`` for the recipients whose NOTIFY asks for it; nothing for
        the null sender (RFC 3461 6.2: no notification about a notification)."""
        wanted = [rep for rcpt, rep in reports if wants(rcpt.notify, action)]
        sender = message.envelope.mail_from
        if not wanted or not sender:
            return
        dsn = build_dsn(hostname=self._hostname, envelope=message.envelope, original=original,
                        arrival=message.created, now=now, recipients=wanted)
        try:
            await self._dispatch(sender, dsn, now)
        except StoreError as exc:  # e.g. the sender's quota: the notice is lost, not retried
            log.warning("queue id=%s: cannot store the %s notice for <%s>: %s",
                        message.id, action, sender, exc)

    async def _dispatch(self, sender: str, dsn: Dsn, now: datetime) -> None:
        await dispatch_dsn(self._store, self._router, sender, dsn, now, wake=self._wake)


async def dispatch_dsn(store: Store, router: Router, sender: str, dsn: Dsn, now: datetime, *,
                       wake: Callable[[], None] | None) -> None:
    """Deliver a notification to a local sender's INBOX, or queue it for a remote one."""
    route = await router.resolve(sender)
    if route.local_user_ids:
        local = return_path_field("") + dsn.data  # RFC 5321 4.4, final delivery
        await store.deliver(NewMessage(local, summarize(local), now),
                            [DeliveryTarget(u) for u in route.local_user_ids])
    if route.remote:
        envelope = OutboundEnvelope(
            mail_from="", recipients=tuple(OutboundRecipient(a) for a in route.remote),
            smtputf8=dsn.smtputf8, body="8BITMIME" if dsn.eightbit else None)
        await store.enqueue(dsn.data, envelope)
        if wake is not None:
            wake()
    if route.empty:
        log.warning("notice for <%s> dropped: no such local address", sender)
