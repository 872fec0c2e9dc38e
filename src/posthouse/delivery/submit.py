"""Message submission outside SMTP (JMAP EmailSubmission): the port 587 rules in one call.

``Submitter.submit`` does what an authenticated SMTP submission session does between MAIL
FROM and the 250: the envelope sender must belong to the user (``Router.may_send_as``, the
same rule as port 587), local recipients are routed (aliases, quotas), remote ones go to the
outbound queue (where the queue worker DKIM-signs them, as for 587), Date and Message-ID are
added when missing (RFC 6409 8), a message with local recipients is DKIM-signed as on port 587
(``delivery/submission_dkim.py``), and everything is committed in one store transaction by
``DeliveryTransaction.commit``. A recipient over quota gets the DSN port 587 would send.
Never speaks a protocol; the caller turns ``SubmitRefused`` into its own error.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from posthouse.clock import Clock
from posthouse.delivery.headers import TraceInfo, submission_fixes
from posthouse.delivery.notices import notify_over_quota
from posthouse.delivery.router import Route, Router
from posthouse.delivery.submission_dkim import sign_submission
from posthouse.delivery.transaction import AcceptedRecipient, DeliveryTransaction
from posthouse.mailauth.dkim import DkimKeys
from posthouse.message.address import split_address
from posthouse.store.api import Store
from posthouse.store.models import User


class SubmitRefused(Exception):
    """The submission is refused; ``kind`` says why: "forbiddenMailFrom",
    "invalidRecipients" (with ``addresses``), "noRecipients", "overQuota"."""

    def __init__(self, kind: str, detail: str, addresses: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.kind = kind
        self.addresses = addresses


@dataclass(frozen=True, slots=True)
class Submitted:
    """What a submission did: its id, the local users that got it, the queued recipients."""

    queue_id: str
    local_user_ids: tuple[int, ...]
    remote: tuple[str, ...]


class Submitter:
    """Submits messages for authenticated users with the rules of port 587."""

    def __init__(self, store: Store, router: Router, clock: Clock, hostname: str,
                 wake: Callable[[], None] | None, dkim_keys: DkimKeys | None = None) -> None:
        self.store = store
        self.dkim_keys = dkim_keys
        self.router = router
        self.clock = clock
        self.hostname = hostname
        self.wake = wake

    async def may_send_as(self, user: User, address: str) -> bool:
        """The port 587 sender rule (``Router.may_send_as``)."""
        return await self.router.may_send_as(user, address)

    async def submit(self, user: User, mail_from: str, rcpt_to: list[str], data: bytes, *,
                     protocol: str, peer_ip: str = "") -> Submitted:
        """Deliver and queue ``data`` for the envelope; SubmitRefused before anything is
        stored when the envelope is not allowed. ``peer_ip``: the client's address for the
        Received field (empty: the message was written here, e.g. an auto-reply)."""
        if mail_from and not await self.router.may_send_as(user, mail_from):
            raise SubmitRefused("forbiddenMailFrom", f"{user.address} may not send as"
                                f" {mail_from}")
        if not rcpt_to:
            raise SubmitRefused("noRecipients", "the envelope has no recipients")
        txn = DeliveryTransaction(mail_from=mail_from, sender_user_id=user.id,
                                  smtputf8=not (mail_from.isascii() and all(
                                      r.isascii() for r in rcpt_to)))
        bad: list[str] = []
        for address in dict.fromkeys(rcpt_to):
            _local, domain = split_address(address)
            if not domain or any(c in address for c in " <>\r\n"):
                bad.append(address)
                continue
            if await self.router.is_local_domain(domain):
                route = await self.router.resolve(address)
                if route.empty:
                    bad.append(address)
                    continue
            else:
                route = Route(remote=(address,))
            txn.add_recipient(AcceptedRecipient(address, route))
        if bad:
            raise SubmitRefused("invalidRecipients", "unknown or malformed recipients",
                                tuple(bad))
        now = self.clock.now()
        queue_id = secrets.token_hex(8)
        data = submission_fixes(data, hostname=self.hostname, when=now)
        trace = TraceInfo(helo="jmap-client" if peer_ip else self.hostname,
                          peer_ip=peer_ip or "127.0.0.1", hostname=self.hostname,
                          session_id=queue_id, protocol=protocol, tls=None, when=now)
        data = await sign_submission(txn, data, store=self.store, keys=self.dkim_keys,
                                     when=now)
        # QuotaExceeded (nobody left to deliver to) and StoreError reach the caller
        skipped = await txn.commit(self.store, data, trace=trace, internaldate=now)
        if skipped:
            await notify_over_quota(self.store, self.router, txn, skipped, data, now,
                                    hostname=self.hostname, wake=self.wake)
        outbound = txn.outbound()
        if outbound is not None and self.wake is not None:
            self.wake()
        local = tuple(u for u in txn.local_user_ids() if u not in skipped)
        remote = tuple(r.address for r in outbound.recipients) if outbound else ()
        return Submitted(queue_id, local, remote)
