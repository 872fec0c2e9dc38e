"""What flows between the worker, the lanes and a delivery attempt: jobs and outcomes."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from posthouse.smtp.replies import Reply
from posthouse.store.models import QueuedMessage, QueuedRecipient


class TlsDemand(enum.Enum):
    """What a message asks of the TLS of its hops (RFC 8689); each has lanes of its own."""

    POLICY = "policy"  # as the recipient domain's policies (MTA-STS, DANE) say
    OPTIONAL = "optional"  # "TLS-Required: No" (RFC 8689 5): the policies do not apply
    REQUIRETLS = "requiretls"  # validated TLS to hops offering REQUIRETLS (RFC 8689 4.2.1)


class Kind(enum.Enum):
    """The three ends of a try for one recipient."""

    DELIVERED = "delivered"  # the next hop took responsibility (250)
    PERMANENT = "permanent"  # 5xx or a local permanent reason: fail and notify
    TRANSIENT = "transient"  # 4xx, no connection, DNS trouble: try again later


@dataclass(frozen=True, slots=True)
class RecipientOutcome:
    """One recipient's result of one try."""

    kind: Kind
    status: str  # RFC 3463 enhanced status code
    text: str  # the remote reply ("550 5.1.1 no such user") or a local description
    remote_mta: str | None = None  # the host that answered
    remote_reply: bool = False  # ``text`` is the remote's reply (a Diagnostic-Code, RFC 3464)
    dsn_passed: bool = False  # NOTIFY/ORCPT went on to a DSN-capable hop (RFC 3461 5.2.2)

    @classmethod
    def from_reply(cls, reply: Reply, host: str, *, dsn_passed: bool = False) -> RecipientOutcome:
        """The outcome a reply code means; the status is the reply's enhanced code or its
        class alone (RFC 3463 3.1)."""
        kind = (Kind.DELIVERED if reply.is_success
                else Kind.PERMANENT if reply.is_permanent else Kind.TRANSIENT)
        status = reply.enhanced or f"{reply.code // 100}.0.0"
        return cls(kind, status, str(reply), host, True, dsn_passed)

    @classmethod
    def local(cls, *, permanent: bool, status: str, text: str) -> RecipientOutcome:
        """A failure decided here, without a remote reply."""
        return cls(Kind.PERMANENT if permanent else Kind.TRANSIENT, status, text)

    def summary(self) -> str:
        """The one-line form kept as the recipient's last reply."""
        return f"{self.remote_mta}: {self.text}" if self.remote_mta else self.text


Reporter = Callable[[QueuedRecipient, RecipientOutcome], Awaitable[None]]


@dataclass(eq=False)
class Job:
    """The pending recipients of one queued message in one domain, and the bytes to send."""

    message: QueuedMessage
    domain: str
    recipients: tuple[QueuedRecipient, ...]
    data: bytes
    reporter: Reporter
    tls: TlsDemand = TlsDemand.POLICY
    outcomes: dict[int, RecipientOutcome] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def report(self, rcpt: QueuedRecipient, outcome: RecipientOutcome) -> None:
        """Record one recipient's outcome (the reporter makes a delivery durable at once)."""
        self.outcomes[rcpt.id] = outcome
        await self.reporter(rcpt, outcome)

    async def report_rest(self, outcome: RecipientOutcome) -> None:
        """Give every recipient without an outcome yet this one."""
        for rcpt in self.recipients:
            if rcpt.id not in self.outcomes:
                await self.report(rcpt, outcome)


class HopConnection(Protocol):
    """An open connection to a next hop that delivers jobs one after another."""

    async def send(self, job: Job) -> bool:
        """One transaction for the job, reporting every recipient; False when the
        connection cannot be used for another job."""

    async def reset(self, *, probe: bool = False) -> bool:
        """Ready the connection for the next job (RSET when needed; always when ``probe``:
        it has idled); False when the connection is no longer usable."""

    async def close(self) -> None:
        """QUIT (politely, bounded in time) and close."""


# Opens a hop connection for a recipient domain meeting a TLS demand, or says why none could
# be opened.
Opener = Callable[[str, TlsDemand], Awaitable[HopConnection | RecipientOutcome]]
