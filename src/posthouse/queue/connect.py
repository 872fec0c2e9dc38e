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

from posthouse.net.certs import peer_chain
from posthouse.net.tls import client_context
from posthouse.queue.attempt import HOP_ERRORS, SmtpHopConnection, Timeouts, Wire
from posthouse.queue.jobs import Kind, RecipientOutcome, TlsDemand
from posthouse.queue.mta_sts import StsLookup
from posthouse.queue.mx import MxRoute, RouteFailure, Routing, Target, TlsMode
from posthouse.queue.tls_policy import DomainTls, HostTls, TlsNeed, TlsPolicy
from posthouse.smtp.client import SmtpClientConnection
from posthouse.smtp.reply_reader import Capabilities

TlsContexts = Callable[[bool], ssl.SSLContext]


class _TlsFailed(Exception):
    """The TLS handshake failed; opportunistic TLS may retry in plaintext (RFC 7435)."""


def default_tls_contexts(cafile: str = "") -> TlsContexts:
    """Two client contexts, made once: verifying (against ``cafile`` when given) and
    opportunistic."""
    cache: dict[bool, ssl.SSLContext] = {}

    def get(verify: bool) -> ssl.SSLContext:
        if verify not in cache:
            cache[verify] = client_context(verify=verify, cafile=cafile)
        return cache[verify]

    return get


def _local_ip(wire: Wire) -> str:
    """Our address on the connection (TLS-RPT sending-mta-ip)."""
    name = wire.writer.get_extra_info("sockname")
    return str(name[0]) if name else ""


def _transient(outcome: RecipientOutcome) -> RecipientOutcome:
    return replace(outcome, kind=Kind.TRANSIENT) if outcome.kind is Kind.PERMANENT else outcome


@dataclass
class Connector:
    """Opens hop connections for recipient domains (an ``Opener`` for the lanes)."""

    routing: Routing
    hostname: str  # our EHLO name
    timeouts: Timeouts
    tls_contexts: TlsContexts
    tls_policy: TlsPolicy | None = None  # MTA-STS and DANE for MX routes; None: neither

    async def __call__(self, domain: str, demand: TlsDemand = TlsDemand.POLICY,
                       ) -> SmtpHopConnection | RecipientOutcome:
        """A ready connection to the best reachable host for ``domain`` that meets
        ``demand``, or why there is none. OPTIONAL (RFC 8689 5) leaves MTA-STS and DANE
        aside; REQUIRETLS skips hosts without validated TLS or the extension (4.2.1)."""
        route = await self.routing.route(domain)
        if isinstance(route, RouteFailure):
            return RecipientOutcome.local(
                permanent=route.permanent, status=route.status, text=route.text
            )
        policy, policy_domain = self.tls_policy, route.policy_domain
        if demand is TlsDemand.OPTIONAL:
            policy_domain = None
        found = DomainTls(StsLookup(None))
        if policy is not None and policy_domain is not None:
            found = await policy.for_domain(policy_domain)
        problems: list[RouteFailure] = []
        last: RecipientOutcome | None = None
        decided: dict[str, HostTls] = {}
        async for target in self.routing.targets(route, problems):
            host_tls = None
            if policy is not None:  # without a policy domain: PKIX only informs REQUIRETLS
                if target.host not in decided:
                    decided[target.host] = (
                        await policy.for_host(policy_domain, found, target.host)
                        if policy_domain is not None
                        else TlsPolicy.opportunistic(domain, target.host))
                host_tls = decided[target.host]
                if not policy.mx_allowed(host_tls):
                    text = (f"TLSA lookup for {target.host} failed (RFC 7672 2.2)"
                            if host_tls.need is TlsNeed.UNUSABLE
                            else f"{target.host} is not an MX of {domain}'s MTA-STS policy")
                    last = RecipientOutcome.local(permanent=False, status="4.7.5", text=text)
                    continue
            opened = await self._try(route, target, tls=route.tls is not TlsMode.NONE,
                                     host_tls=host_tls)
            if isinstance(opened, SmtpHopConnection):
                if demand is not TlsDemand.REQUIRETLS or opened.requiretls_ok:
                    return opened
                await opened.close()
                opened = RecipientOutcome.local(permanent=True, status="5.7.10",
                                                text=opened.requiretls_refusal)
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
        self, route: MxRoute, target: Target, *, tls: bool, host_tls: HostTls | None = None
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
            return await self._handshake(wire, route, target, tls=tls, host_tls=host_tls)
        except _TlsFailed as exc:
            local = _local_ip(wire)
            await wire.abort()
            plain_ok = host_tls is None or (
                self.tls_policy is not None
                and self.tls_policy.no_tls(host_tls, target.address, str(exc), local))
            if route.tls is TlsMode.OPPORTUNISTIC and tls and plain_ok:
                return await self._try(route, target, tls=False, host_tls=None)
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
        self, wire: Wire, route: MxRoute, target: Target, *, tls: bool,
        host_tls: HostTls | None,
    ) -> SmtpHopConnection | RecipientOutcome:
        greeting = await wire.reply(self.timeouts.greeting)
        if greeting.code != 220:  # RFC 5321 3.1: no service here; try the next host
            await wire.close()
            return _transient(RecipientOutcome.from_reply(greeting, target.host))
        caps = await self._hello(wire, target)
        if isinstance(caps, RecipientOutcome):
            return caps
        validated = route.tls is TlsMode.IMPLICIT
        if tls and route.tls in (TlsMode.OPPORTUNISTIC, TlsMode.REQUIRED):
            upgraded = await self._starttls(wire, route, target, caps, host_tls)
            if isinstance(upgraded, RecipientOutcome):
                return upgraded
            caps, validated = upgraded
        if route.auth is not None:
            failed = await self._auth(wire, route.auth, caps, target)
            if failed is not None:
                return failed
        return SmtpHopConnection(wire, target.host, caps, validated=validated)

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
        self, wire: Wire, route: MxRoute, target: Target, caps: Capabilities,
        host_tls: HostTls | None,
    ) -> tuple[Capabilities, bool] | RecipientOutcome:
        """RFC 3207: the capabilities after STARTTLS and whether the certificate was
        validated. A route that requires TLS verifies in the handshake; under a policy
        (MTA-STS, DANE) the chain is judged after it (tls_policy.py)."""
        required = route.tls is TlsMode.REQUIRED
        if "STARTTLS" not in caps:
            return await self._without_tls(wire, target, caps, host_tls, required,
                                           "STARTTLS not offered")
        reply = await wire.command(wire.conn.starttls(), self.timeouts.command)
        if reply.code != 220:
            if wire.conn.closed:
                await wire.close()
                return _transient(RecipientOutcome.from_reply(reply, target.host))
            return await self._without_tls(wire, target, caps, host_tls, required,
                                           f"STARTTLS refused: {reply}")
        wire.conn.start_tls()
        try:
            await wire.start_tls(self.tls_contexts(required), target.host)
        except (ssl.SSLError, ssl.CertificateError, ConnectionError, TimeoutError) as exc:
            raise _TlsFailed(f"TLS handshake failed: {exc}") from None
        validated = required
        if host_tls is not None and self.tls_policy is not None:
            chain = peer_chain(wire.writer.get_extra_info("ssl_object"))
            verdict = self.tls_policy.judge(host_tls, chain, target.address, _local_ip(wire))
            if not verdict.proceed:  # RFC 8461 5, RFC 7672 2.2: no delivery to this host
                await wire.close()
                return RecipientOutcome.local(
                    permanent=False, status="4.7.5",
                    text=f"{target.host}: certificate refused by policy: {verdict.problem}")
            validated = required or verdict.validated
        caps_after = await self._hello(wire, target)
        if isinstance(caps_after, RecipientOutcome):
            return caps_after
        return caps_after, validated

    async def _without_tls(
        self, wire: Wire, target: Target, caps: Capabilities, host_tls: HostTls | None,
        required: bool, why: str,
    ) -> tuple[Capabilities, bool] | RecipientOutcome:
        """Go on in plaintext if neither the route nor the policy forbids it."""
        allowed = not required
        if host_tls is not None and self.tls_policy is not None:
            allowed = self.tls_policy.no_tls(host_tls, target.address, why,
                                             _local_ip(wire)) and allowed
        if allowed:
            return caps, False
        await wire.close()
        return RecipientOutcome.local(
            permanent=False, status="4.7.10", text=f"{target.host}: {why}, TLS required")

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
