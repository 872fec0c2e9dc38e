"""One delivery try of queued messages over one open SMTP connection.

``Wire`` moves the bytes of a sans-IO ``SmtpClientConnection`` over an asyncio stream with the
timeouts of RFC 5321 4.5.3.2; ``SmtpHopConnection`` runs one transaction per job (MAIL, RCPT...,
DATA, pipelined when offered) and reports every recipient. A 250 after the data is reported
before anything else is sent, so the store records the delivery before the next command
(worker.py ``_record``: committed, durable with the next commit).
Between two transactions RSET is sent only when the last one did not end with the reply to
its message content (after that reply the server has cleared its state, RFC 5321 4.1.4), or
when the connection has idled (``reset(probe=True)``: is the server still there?).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass

from posthouse.queue.envelope import Plan, plan_transaction
from posthouse.queue.jobs import Job, RecipientOutcome
from posthouse.smtp.client import ServerReply, SmtpClientConnection
from posthouse.smtp.replies import Reply
from posthouse.smtp.reply_reader import Capabilities
from posthouse.store.models import QueuedRecipient
from posthouse.wire import LocalProtocolError, RemoteProtocolError
from posthouse.wire.events import Closed

log = logging.getLogger("posthouse.queue")

# Everything that ends a hop connection without ending the queue worker.
HOP_ERRORS = (OSError, TimeoutError, EOFError, RemoteProtocolError, LocalProtocolError)
_SLICE = 64 * 1024


@dataclass(frozen=True)
class Timeouts:
    """Client timeouts in seconds (RFC 5321 4.5.3.2 gives the minimums used as defaults)."""

    connect: float = 30.0
    greeting: float = 300.0  # 4.5.3.2.1
    command: float = 300.0  # MAIL 4.5.3.2.2, RCPT 4.5.3.2.3; EHLO, RSET, AUTH likewise
    data_start: float = 120.0  # 4.5.3.2.4
    data_block: float = 180.0  # 4.5.3.2.5, per block written
    data_end: float = 600.0  # 4.5.3.2.6
    quit: float = 10.0  # not in the RFC: QUIT is a courtesy


class Wire:
    """A SmtpClientConnection bound to a stream pair."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 conn: SmtpClientConnection, timeouts: Timeouts) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = conn
        self.timeouts = timeouts

    async def reply(self, within: float) -> Reply:
        """The next reply (EOFError when the server closed the connection)."""
        while True:
            event = self.conn.next_event()
            if isinstance(event, ServerReply):
                if event.command == "NONE":
                    raise EOFError(f"server closed: {event.reply}")
                return event.reply
            if isinstance(event, Closed):
                raise EOFError("connection closed by the server")
            data = await asyncio.wait_for(self.reader.read(_SLICE), within)
            self.conn.receive_data(data)

    async def send(self, data: bytes, within: float) -> None:
        """Write and wait until the bytes are handed to the kernel."""
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), within)

    async def command(self, data: bytes, within: float) -> Reply:
        """Send one command and wait (each step at most ``within`` seconds) for its reply."""
        await self.send(data, within)
        return await self.reply(within)

    async def start_tls(self, context: ssl.SSLContext, host: str) -> None:
        """Upgrade the stream after a 220 to STARTTLS."""
        await asyncio.wait_for(self.writer.start_tls(context, server_hostname=host),
                               self.timeouts.command)

    async def close(self) -> None:
        """QUIT if the connection is in a state to send it, then close."""
        if not self.conn.closed and not self.conn.owed:
            with contextlib.suppress(*HOP_ERRORS):
                await self.command(self.conn.quit(), self.timeouts.quit)
        await self.abort(graceful=True)

    async def abort(self, *, graceful: bool = False) -> None:
        """Drop the connection."""
        if not graceful:
            self.writer.transport.abort()
        self.writer.close()
        with contextlib.suppress(*HOP_ERRORS, ssl.SSLError):
            await asyncio.wait_for(self.writer.wait_closed(), self.timeouts.quit)


class SmtpHopConnection:
    """An open, greeted (and possibly encrypted and authenticated) connection;
    ``validated`` when it runs over TLS with a certificate checked by PKIX, MTA-STS or DANE."""

    def __init__(self, wire: Wire, host: str, caps: Capabilities, *,
                 validated: bool = False) -> None:
        self.wire = wire
        self.host = host
        self.caps = caps
        self.validated = validated
        self._complete = True  # no transaction begun since the last one's final reply

    async def send(self, job: Job) -> bool:
        """One transaction for ``job``; False when the connection is not reusable."""
        if job.message.envelope.requiretls and not self.requiretls_ok:
            await job.report_rest(RecipientOutcome.local(
                permanent=True, status="5.7.10", text=self.requiretls_refusal))
            return True
        plan = plan_transaction(job, self.caps)
        for rcpt, outcome in plan.refused:
            await job.report(rcpt, outcome)
        if not plan.rcpts:
            return True
        try:
            return await self._transaction(job, plan)
        except HOP_ERRORS as exc:
            await job.report_rest(RecipientOutcome.local(
                permanent=False, status="4.4.2",
                text=f"{self.host}: connection lost: {exc or type(exc).__name__}"))
            return False

    async def reset(self, *, probe: bool = False) -> bool:
        """Ready for the next transaction: RSET unless the last transaction was completed
        (``probe``: RSET anyway, to learn whether an idle connection still works)."""
        if self._complete and not probe:
            return not self.wire.conn.closed
        try:
            reply = await self.wire.command(self.wire.conn.rset(), self.wire.timeouts.command)
        except HOP_ERRORS:
            return False
        return reply.is_success and not self.wire.conn.closed

    async def close(self) -> None:
        """QUIT and close."""
        await self.wire.close()

    async def _transaction(self, job: Job, plan: Plan) -> bool:
        wire, conn, t = self.wire, self.wire.conn, self.wire.timeouts
        self._complete = False
        mail = conn.mail(plan.sender, size=plan.size, body=plan.body, smtputf8=plan.smtputf8,
                         ret=plan.ret, envid=plan.envid,
                         requiretls=job.message.envelope.requiretls)
        rcpts = [(r, conn.rcpt(addr, notify=notify, orcpt=orcpt))
                 for r, addr, notify, orcpt in plan.rcpts] if self._pipelining else []
        if self._pipelining:  # RFC 2920 3.1: MAIL, RCPTs and DATA in one group
            await wire.send(mail + b"".join(c for _, c in rcpts)
                            + (b"" if plan.bdat else conn.data()), t.command)
            mail_reply = await wire.reply(t.command)
        else:
            mail_reply = await wire.command(mail, t.command)
        accepted = await self._recipients(job, plan, mail_reply)
        if plan.bdat:
            return await self._bdat(job, accepted) if accepted else not conn.closed
        if self._pipelining:
            data_reply = await wire.reply(t.data_start)
        elif accepted:
            data_reply = await wire.command(conn.data(), t.data_start)
        else:
            return not conn.closed
        if data_reply.code != 354:
            await self._report(job, accepted, RecipientOutcome.from_reply(data_reply, self.host))
            return not conn.closed
        if not accepted:  # RFC 2920 3.1: a 354 despite no recipient; send an empty message
            await wire.send(conn.message(b""), t.data_block)
            await wire.reply(t.data_end)
            return not conn.closed
        await self._content(conn.message(job.data))
        final = await wire.reply(t.data_end)
        self._complete = True  # RFC 5321 4.1.1.4: the reply ends the transaction
        await self._report(job, accepted, RecipientOutcome.from_reply(final, self.host,
                                                             dsn_passed=plan.dsn))
        return not conn.closed

    @property
    def requiretls_ok(self) -> bool:
        """RFC 8689 4.2.1: a validated TLS session to a hop that offers REQUIRETLS."""
        return self.validated and "REQUIRETLS" in self.caps

    @property
    def requiretls_refusal(self) -> str:
        """Why a REQUIRETLS message cannot go over this connection."""
        return f"REQUIRETLS needed: {self.host} " + (
            "does not offer REQUIRETLS" if self.validated
            else "is not reached over TLS with a validated certificate")

    @property
    def _pipelining(self) -> bool:
        return "PIPELINING" in self.caps

    async def _recipients(self, job: Job, plan: Plan, mail_reply: Reply,
                          ) -> list[QueuedRecipient]:
        """Collect the RCPT replies (sending each RCPT first unless pipelined)."""
        wire, conn, t = self.wire, self.wire.conn, self.wire.timeouts
        if not mail_reply.is_success:
            await self._report(job, [r for r, *_ in plan.rcpts],
                               RecipientOutcome.from_reply(mail_reply, self.host))
        accepted = []
        for rcpt, addr, notify, orcpt in plan.rcpts:
            if self._pipelining:
                reply = await wire.reply(t.command)
            elif mail_reply.is_success:
                reply = await wire.command(conn.rcpt(addr, notify=notify, orcpt=orcpt),
                                           t.command)
            else:
                continue
            if not mail_reply.is_success:
                continue
            if reply.is_success:
                accepted.append(rcpt)
            else:
                await job.report(rcpt, RecipientOutcome.from_reply(reply, self.host))
        return accepted

    async def _content(self, content: bytes) -> None:
        """Write the dot-stuffed message block by block (RFC 5321 4.5.3.2.5)."""
        view = memoryview(content)
        for start in range(0, len(view), _SLICE):
            await self.wire.send(bytes(view[start:start + _SLICE]), self.wire.timeouts.data_block)

    async def _bdat(self, job: Job, accepted: list[QueuedRecipient]) -> bool:
        """BODY=BINARYMIME content as one BDAT LAST chunk (RFC 3030)."""
        wire = self.wire
        await self._content(wire.conn.bdat(job.data, last=True))
        final = await wire.reply(wire.timeouts.data_end)
        self._complete = True  # RFC 3030 2: the reply to BDAT LAST ends the transaction
        await self._report(job, accepted, RecipientOutcome.from_reply(final, self.host))
        return not wire.conn.closed

    async def _report(
        self, job: Job, rcpts: list[QueuedRecipient], outcome: RecipientOutcome
    ) -> None:
        for rcpt in rcpts:
            log.info(
                "queue id=%s to=<%s> via=%s %s: %s",
                job.message.id,
                rcpt.address,
                self.host,
                outcome.kind.value,
                outcome.text,
            )
            await job.report(rcpt, outcome)
