"""Opening a connection to a next hop: route, connect, greeting, EHLO, STARTTLS, AUTH.

The protocol itself is ``posthouse.smtp.client.SmtpClientConnection`` (sans-IO); this module
only moves its bytes over an asyncio stream and decides what to do with the replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace

from posthouse.net.tls import client_context
from posthouse.queue.attempt import HOP_ERRORS, SmtpHopConnection, Timeouts, Wire
from posthouse.queue.jobs import Kind, RecipientOutcome
from posthouse.queue.mx import MxRoute, RouteFailure, Routing, Target, TlsMode
from posthouse.smtp.client import SmtpClientConnection
from posthouse.smtp.reply_reader import Capabilities

TlsContexts = Callable[[bool], ssl.SSLContext]


class _TlsFailed(Exception):
    """The TLS handshake failed; opportunistic TLS may retry in plaintext (RFC 7435)."""


def default_tls_contexts() -> TlsContexts:
    """Two client contexts, made once: verifying and opportunistic."""
    cache: dict[bool, ssl.SSLContext] = {}

    def get(verify: bool) -> ssl.SSLContext:
        if verify not in cache:
            cache[verify] = client_context(verify=verify)
        return cache[verify]

    return get


def _transient(outcome: RecipientOutcome) -> RecipientOutcome:
    return replace(outcome, kind=Kind.TRANSIENT) if outcome.kind is Kind.PERMANENT else outcome


@dataclass
class Connector:
    """Opens hop connections for recipient domains (an ``Opener`` for the lanes)."""

    routing: Routing
    hostname: str  # our EHLO name
    timeouts: Timeouts
    tls_contexts: TlsContexts

    async def __call__(self, domain: str) -> SmtpHopConnection | RecipientOutcome:
        """A ready connection to the best reachable host for ``domain``, or why there is none."""
        route = await self.routing.route(domain)
        if isinstance(route, RouteFailure):
            return RecipientOutcome.local(
                permanent=route.permanent, status=route.status, text=route.text
            )
        problems: list[RouteFailure] = []
        last: RecipientOutcome | None = None
        async for target in self.routing.targets(route, problems):
            opened = await self._try(route, target, tls=route.tls is not TlsMode.NONE)
            if isinstance(opened, SmtpHopConnection):
                return opened
            last = opened
        if last is not None:
            return last
        if problems:
            first = problems[0]
            permanent = all(p.permanent for p in problems)
            return RecipientOutcome.local(
                permanent=permanent, status=first.status, text="; ".join(p.text for p in problems)
            )
        return RecipientOutcome.local(permanent=False, status="4.4.4", text=f"no route to {domain}")

    async def _try(
        self, route: MxRoute, target: Target, *, tls: bool
    ) -> SmtpHopConnection | RecipientOutcome:
        where = f"{target.host}[{target.address}]:{target.port}"
        try:
            wire = await self._connect(route, target)
        except HOP_ERRORS as exc:
            return RecipientOutcome.local(
                permanent=False,
                status="4.4.1",
                text=f"connect to {where}: {exc or type(exc).__name__}",
            )
        try:
            return await self._handshake(wire, route, target, tls=tls)
        except _TlsFailed as exc:
            await wire.abort()
            if route.tls is TlsMode.OPPORTUNISTIC and tls:
                return await self._try(route, target, tls=False)
            return RecipientOutcome.local(permanent=False, status="4.7.5", text=f"{where}: {exc}")
        except HOP_ERRORS as exc:
            await wire.abort()
            return RecipientOutcome.local(
                permanent=False, status="4.4.2", text=f"{where}: {exc or type(exc).__name__}"
            )
        except BaseException:  # cancelled (shutdown): drop the connection at once
            wire.writer.transport.abort()
            raise

    async def _connect(self, route: MxRoute, target: Target) -> Wire:
        context = None
        if route.tls is TlsMode.IMPLICIT:  # RFC 8314 3: TLS from the first octet
            context = self.tls_contexts(True)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                target.address,
                target.port,
                ssl=context,
                server_hostname=target.host if context else None,
            ),
            self.timeouts.connect,
        )
        return Wire(reader, writer, SmtpClientConnection(), self.timeouts)

    async def _handshake(
        self, wire: Wire, route: MxRoute, target: Target, *, tls: bool
    ) -> SmtpHopConnection | RecipientOutcome:
        greeting = await wire.reply(self.timeouts.greeting)
        if greeting.code != 220:  # RFC 5321 3.1: no service here; try the next host
            await wire.close()
            return _transient(RecipientOutcome.from_reply(greeting, target.host))
        caps = await self._hello(wire, target)
        if isinstance(caps, RecipientOutcome):
            return caps
        if tls and route.tls in (TlsMode.OPPORTUNISTIC, TlsMode.REQUIRED):
            caps = await self._starttls(wire, route, target, caps)
            if isinstance(caps, RecipientOutcome):
                return caps
        if route.auth is not None:
            failed = await self._auth(wire, route.auth, caps, target)
            if failed is not None:
                return failed
        return SmtpHopConnection(wire, target.host, caps)

    async def _hello(self, wire: Wire, target: Target) -> Capabilities | RecipientOutcome:
        """EHLO, or HELO when EHLO is refused (RFC 5321 3.2)."""
        reply = await wire.command(wire.conn.ehlo(self.hostname), self.timeouts.command)
        if not reply.is_success and not wire.conn.closed:
            reply = await wire.command(wire.conn.helo(self.hostname), self.timeouts.command)
        if not reply.is_success or wire.conn.capabilities is None:
            await wire.close()
            return _transient(RecipientOutcome.from_reply(reply, target.host))
        return wire.conn.capabilities

    async def _starttls(
        self, wire: Wire, route: MxRoute, target: Target, caps: Capabilities
    ) -> Capabilities | RecipientOutcome:
        """RFC 3207; the certificate is checked only where the route requires it."""
        required = route.tls is TlsMode.REQUIRED
        if "STARTTLS" not in caps:
            if not required:
                return caps
            await wire.close()
            return RecipientOutcome.local(
                permanent=False,
                status="4.7.10",
                text=f"{target.host} does not offer STARTTLS, TLS required",
            )
        reply = await wire.command(wire.conn.starttls(), self.timeouts.command)
        if reply.code != 220:
            if not required and not wire.conn.closed:
                return caps
            await wire.close()
            return _transient(RecipientOutcome.from_reply(reply, target.host))
        wire.conn.start_tls()
        try:
            await wire.start_tls(self.tls_contexts(required), target.host)
        except (ssl.SSLError, ssl.CertificateError, ConnectionError, TimeoutError) as exc:
            raise _TlsFailed(f"TLS handshake failed: {exc}") from None
        return await self._hello(wire, target)

    async def _auth(
        self, wire: Wire, auth: tuple[str, str], caps: Capabilities, target: Target
    ) -> RecipientOutcome | None:
        """AUTH PLAIN with an initial response (RFC 4954 4, RFC 4616). A refusal is a
        configuration problem here, so it is retried rather than bounced."""
        if "AUTH" not in caps or "PLAIN" not in caps.auth:
            await wire.close()
            return RecipientOutcome.local(
                permanent=False, status="4.7.12", text=f"{target.host} does not offer AUTH PLAIN"
            )
        user, password = auth
        token = b"\0" + user.encode() + b"\0" + password.encode()
        reply = await wire.command(wire.conn.auth("PLAIN", token), self.timeouts.command)
        if reply.is_success:
            return None
        if reply.code == 334:  # a server asking again after an initial response: give up
            with contextlib.suppress(*HOP_ERRORS):
                await wire.command(wire.conn.auth_cancel(), self.timeouts.command)
        await wire.close()
        return _transient(RecipientOutcome.from_reply(reply, target.host))
