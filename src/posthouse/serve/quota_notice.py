"""Telling a sender that some local recipients' mailboxes were full.

After DATA, SMTP has one reply for all recipients (RFC 5321 4.2.5): when the message is stored
for some and not for others, the 250 stands and the others get a failure DSN (RFC 3464) with
status 5.2.2, unless the sender is null or asked for NOTIFY=NEVER.
"""

from __future__ import annotations

import logging
from datetime import datetime

from posthouse.delivery.transaction import DeliveryTransaction
from posthouse.queue.dsn import RecipientReport, build_dsn, wants
from posthouse.queue.notify import dispatch_dsn
from posthouse.services import Services
from posthouse.store.errors import StoreError
from posthouse.store.models import OutboundEnvelope, OutboundRecipient

log = logging.getLogger("posthouse.smtp")


async def notify_over_quota(services: Services, txn: DeliveryTransaction,
                            user_ids: list[int], data: bytes, now: datetime) -> None:
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
    dsn = build_dsn(hostname=services.hostname, envelope=envelope, original=data,
                    arrival=now, now=now, recipients=reports)
    try:
        await dispatch_dsn(services.store, services.router, txn.mail_from, dsn, now,
                           wake=services.queue_waker)
    except StoreError as exc:
        log.warning("cannot store the quota notice for <%s>: %s", txn.mail_from, exc)
