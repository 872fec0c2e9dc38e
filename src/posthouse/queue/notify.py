"""The queue's delivery status notifications to the original sender: the report of each
recipient's outcome, one DSN per action (built by delivery.dsn, handed to the store by
delivery.notices: a local sender's INBOX, or back into this queue for a remote one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from posthouse.delivery.dsn import Dsn, RecipientReport, build_dsn, wants
from posthouse.delivery.notices import dispatch_dsn
from posthouse.delivery.router import Router
from posthouse.queue.jobs import RecipientOutcome
from posthouse.store.api import Store
from posthouse.store.errors import StoreError
from posthouse.store.models import QueuedMessage, QueuedRecipient

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

    def __init__(self, store: Store, router: Router, *, hostname: str,
                 wake: Callable[[], None]) -> None:
        self._store = store
        self._router = router
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
            await self._dispatch(sender, dsn, now, message.envelope.requiretls)
        except StoreError as exc:  # e.g. the sender's quota: the notice is lost, not retried
            log.warning("queue id=%s: cannot store the %s notice for <%s>: %s",
                        message.id, action, sender, exc)

    async def _dispatch(self, sender: str, dsn: Dsn, now: datetime,
                        requiretls: bool = False) -> None:
        await dispatch_dsn(self._store, self._router, sender, dsn, now, wake=self._wake,
                           requiretls=requiretls)

