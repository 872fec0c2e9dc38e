"""Notices to a sender, delivered through the store: any DSN (``dispatch_dsn``, used by the
outbound queue too), and the one for local recipients whose mailboxes were full.

After DATA, SMTP has one reply for all recipients (RFC 5321 4.2.5): when the message is stored
for some and not for others, the 250 stands and the others get a failure DSN (RFC 3464) with
status 5.2.2, unless the sender is null or asked for NOTIFY=NEVER.

A DSN goes from the null reverse-path (RFC 3461 6.2, RFC 5321 4.5.5), so it can never cause
another one. A local sender gets it in their INBOX (through the same router as any local
recipient: aliases and plus-addresses work); a remote sender gets it through the queue: it is
stored as a queue entry, and ``wake`` tells the queue worker. Nothing here relays mail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from posthouse.delivery.dsn import Dsn, RecipientReport, build_dsn, wants
from posthouse.delivery.headers import return_path_field
from posthouse.delivery.router import Router
from posthouse.delivery.transaction import DeliveryTransaction
from posthouse.message.summary import summarize
from posthouse.store.api import Store
from posthouse.store.errors import StoreError
from posthouse.store.models import (
    DeliveryTarget,
    NewMessage,
    OutboundEnvelope,
    OutboundRecipient,
)

# The loggers of the sides these notices speak for (their names are as before the move).
log = logging.getLogger("posthouse.smtp")
queue_log = logging.getLogger("posthouse.queue")


async def notify_over_quota(store: Store, router: Router, txn: DeliveryTransaction,
                            user_ids: list[int], data: bytes, now: datetime, *,
                            hostname: str, wake: Callable[[], None] | None) -> None:
    """Send one DSN naming every recipient that was left out for quota."""
    reports = []
    for user_id in user_ids:
        for rcpt in txn.recipients_of(user_id):
            log.info("over quota rcpt=<%s>", rcpt.address)
            if wants(rcpt.notify, "failed"):
                reports.append(RecipientReport(
                    address=rcpt.address, action="failed", status="5.2.2", orcpt=rcpt.orcpt,
                    last_attempt=now, explanation="mailbox full (over quota)"))
    if not reports or not txn.mail_from:
        return
    envelope = OutboundEnvelope(
        mail_from=txn.mail_from, envid=txn.envid, ret=txn.ret,
        recipients=tuple(OutboundRecipient(r.address) for r in reports))
    dsn = build_dsn(hostname=hostname, envelope=envelope, original=data,
                    arrival=now, now=now, recipients=reports)
    try:
        await dispatch_dsn(store, router, txn.mail_from, dsn, now, wake=wake)
    except StoreError as exc:
        log.warning("cannot store the quota notice for <%s>: %s", txn.mail_from, exc)


async def dispatch_dsn(store: Store, router: Router, sender: str, dsn: Dsn, now: datetime, *,
                       wake: Callable[[], None] | None, requiretls: bool = False) -> None:
    """Deliver a notification to a local sender's INBOX, or queue it for a remote one (with
    REQUIRETLS when the message it is about had it, RFC 8689 4.3)."""
    route = await router.resolve(sender)
    if route.local_user_ids:
        local = return_path_field("") + dsn.data  # RFC 5321 4.4, final delivery
        # owed for mail already accepted (RFC 5321 6.1): it may use the low-space reserve
        await store.deliver(NewMessage(local, summarize(local), now),
                            [DeliveryTarget(u) for u in route.local_user_ids], reserve=True)
    if route.remote:
        envelope = OutboundEnvelope(
            mail_from="", recipients=tuple(OutboundRecipient(a) for a in route.remote),
            smtputf8=dsn.smtputf8, body="8BITMIME" if dsn.eightbit else None,
            requiretls=requiretls)
        await store.enqueue(dsn.data, envelope)
        if wake is not None:
            wake()
    if route.empty:
        queue_log.warning("notice for <%s> dropped: no such local address", sender)
