"""The two-phase delivery contract: start, add recipients, then commit the body or abort.

SMTP decides per RCPT (routing, quota) and commits once per message: one blob, one row per
local mailbox, one queue entry for the remote recipients, all in one store transaction. The
caller answers 250 only after ``commit`` returned, i.e. once everything is durable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from posthouse.delivery.headers import TraceInfo, received_field, return_path_field
from posthouse.delivery.router import Route, RoutedUser
from posthouse.store.api import Store
from posthouse.store.errors import QuotaExceeded
from posthouse.store.models import (
    DeliveryTarget,
    NewMessage,
    OutboundEnvelope,
    OutboundRecipient,
)
from posthouse.store.quota import fits_quota


@dataclass(frozen=True, slots=True)
class AcceptedRecipient:
    """One RCPT that was answered 250, with its route and DSN parameters (RFC 3461)."""

    address: str
    route: Route
    notify: tuple[str, ...] = ()
    orcpt: str | None = None


@dataclass
class DeliveryTransaction:
    """One SMTP transaction's recipients, waiting for the message body."""

    mail_from: str
    smtputf8: bool = False
    body: str | None = None
    envid: str | None = None
    ret: str | None = None
    sender_user_id: int | None = None
    requiretls: bool = False  # RFC 8689 4: kept with the queued message
    recipients: list[AcceptedRecipient] = field(default_factory=list)
    # Verdict fields of the inbound checks (Received-SPF), CRLF-ended, put above Received.
    check_fields: bytes = b""

    def add_recipient(self, rcpt: AcceptedRecipient) -> None:
        """Record a recipient the caller has accepted."""
        self.recipients.append(rcpt)

    def local_user_ids(self) -> list[int]:
        """Every local user that gets a copy, once each."""
        return list(self._local_users())

    def _local_users(self) -> dict[int, RoutedUser]:
        """Every local user that gets a copy, by id, in recipient order."""
        users: dict[int, RoutedUser] = {}
        for r in self.recipients:
            for user in r.route.local_users:
                users.setdefault(user.id, user)
        return users

    def outbound(self) -> OutboundEnvelope | None:
        """The queue envelope for the remote destinations, or None if there are none."""
        remote: dict[str, OutboundRecipient] = {}
        for r in self.recipients:
            for addr in r.route.remote:
                # An alias target inherits the DSN request of the original recipient and
                # records it as ORCPT (RFC 3461 4.2).
                orcpt = r.orcpt or (None if addr == r.address else f"rfc822;{r.address}")
                remote.setdefault(addr.lower(), OutboundRecipient(addr, r.notify, orcpt))
        if not remote:
            return None
        return OutboundEnvelope(
            mail_from=self.mail_from, recipients=tuple(remote.values()), envid=self.envid,
            ret=self.ret, smtputf8=self.smtputf8, body=self.body,
            sender_user_id=self.sender_user_id, requiretls=self.requiretls,
        )

    async def over_quota(self, store: Store, size: int) -> list[int]:
        """Local users whose quota this message would exceed.

        The quota is the one read while routing the RCPT; the usage is read now.
        """
        over = []
        for user in self._local_users().values():
            if user.quota_bytes:
                used, _count = await store.quota_usage(user.id)
                if not fits_quota(used, size, user.quota_bytes):
                    over.append(user.id)
        return over

    async def commit(self, store: Store, data: bytes, *, trace: TraceInfo,
                     internaldate: datetime, junk: bool = False) -> list[int]:
        """Store the message for every recipient in one transaction (StoreError on failure).

        Local copies get Return-Path, the check fields and Received prepended; the queued
        copy the check fields and Received (Return-Path belongs to final delivery, RFC 5321
        4.4). Users whose quota the message would exceed are left out and returned, so the
        caller can tell the sender (a DSN); when nobody is left, QuotaExceeded is raised
        instead. ``junk`` files the local copies in each user's \\Junk mailbox (INBOX for
        a user without one).
        """
        # RFC 7208 9.1: Received-SPF goes above the Received field this server adds.
        trace_field = received_field(trace, [r.address for r in self.recipients])
        received = self.check_fields + trace_field
        outbound = self.outbound()
        skipped = await self.over_quota(store, len(data) + len(received) + 64)
        users = [u for u in self.local_user_ids() if u not in skipped]
        if skipped and not users and outbound is None:
            raise QuotaExceeded("every local recipient is over quota")
        if users:
            local = return_path_field(self.mail_from) + received + data
            # No summary: the store parses the message while its commit's fsync runs, so the
            # 250 does not wait for the MIME parse (SqliteStore.deliver).
            message = NewMessage(local, None, internaldate)
            use = "\\Junk" if junk else None
            targets = [DeliveryTarget(u, special_use=use) for u in users]
            await store.deliver(message, targets, outbound=outbound)
        elif outbound is not None:
            # Relay only: no mailbox will show it, so no MIME summary or search index.
            await store.enqueue(received + data, outbound)
        return skipped

    def recipients_of(self, user_id: int) -> list[AcceptedRecipient]:
        """The accepted recipients whose route includes a local user."""
        return [r for r in self.recipients if user_id in r.route.local_user_ids]
