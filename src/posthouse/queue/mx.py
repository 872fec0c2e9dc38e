"""Where mail for a domain goes: RFC 5321 section 5 routing, overridden by configuration.

Order of decisions: smarthost (everything), transport map (per domain), domain literal, then
MX lookup. MX hosts are tried by preference with a random order among equal preferences
(RFC 5321 5.1); no MX means the domain itself is the one host (implicit MX); a null MX
(RFC 7505) is an immediate permanent failure.

IDN domains are converted to A-labels with IDNA 2008 (dns/idn.py); a domain that is not a
valid IDN is refused with 5.1.2 rather than sent somewhere wrong.
"""

from __future__ import annotations

import enum
import ipaddress
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from posthouse.config import QueueConfig, parse_hostport
from posthouse.dns.idn import to_alabel
from posthouse.dns.resolver import MxHost, NoRecords, NullMx, Resolver, TempFail


class TlsMode(enum.Enum):
    """How the connection to a route is protected."""

    OPPORTUNISTIC = "opportunistic"  # STARTTLS when offered, certificate not checked (RFC 7435)
    REQUIRED = "required"  # STARTTLS must be offered and the certificate must verify
    IMPLICIT = "implicit"  # TLS from the first byte, verified (RFC 8314)
    NONE = "none"  # plaintext only


@dataclass(frozen=True, slots=True)
class Hop:
    """One next-hop host in order of trial; ``implicit`` for the domain itself (no MX)."""

    host: str
    port: int
    implicit: bool = False


@dataclass(frozen=True, slots=True)
class MxRoute:
    """The hosts to try for a domain and how to talk to them."""

    hops: tuple[Hop, ...]
    tls: TlsMode = TlsMode.OPPORTUNISTIC
    auth: tuple[str, str] | None = None  # AUTH PLAIN user, password (smarthost)
    # The recipient domain whose MX records these are: MTA-STS and DANE apply only then
    # (not to a smarthost, a transport entry or an address literal).
    policy_domain: str | None = None


@dataclass(frozen=True, slots=True)
class RouteFailure:
    """No route now (``permanent`` False: retry later) or never."""

    permanent: bool
    status: str  # RFC 3463 enhanced status code
    text: str


@dataclass(frozen=True, slots=True)
class Target:
    """One address to connect to, with the host name it belongs to."""

    host: str
    address: str
    port: int


def order_mx(records: tuple[MxHost, ...], rng: random.Random) -> list[MxHost]:
    """By preference, shuffled within equal preference (RFC 5321 5.1)."""
    shuffled = list(records)
    rng.shuffle(shuffled)
    return sorted(shuffled, key=lambda r: r.preference)  # sort is stable: ties stay shuffled


def drop_self(records: list[MxHost], own_host: str) -> list[MxHost] | None:
    """Discard MX records at or after our own (RFC 5321 5.1); None if we are the best MX."""
    own = [r.preference for r in records if r.host == own_host.lower()]
    if not own:
        return records
    kept = [r for r in records if r.preference < min(own)]
    return kept or None


def _literal(domain: str) -> str | None:
    """The address inside a domain literal "[1.2.3.4]" / "[IPv6:...]" (RFC 5321 4.1.3)."""
    if not (domain.startswith("[") and domain.endswith("]")):
        return None
    inner = domain[1:-1]
    if inner[:5].lower() == "ipv6:":
        inner = inner[5:]
    try:
        return str(ipaddress.ip_address(inner))
    except ValueError:
        return ""


@dataclass
class Routing:
    """Routes recipient domains per the [queue] configuration and DNS."""

    config: QueueConfig
    resolver: Resolver
    own_hostname: str
    rng: random.Random = field(default_factory=random.Random)

    def _fixed(self, domain: str) -> MxRoute | None:
        cfg = self.config
        if cfg.smarthost:
            host, port = parse_hostport(cfg.smarthost)
            mode = {"starttls": TlsMode.REQUIRED, "implicit": TlsMode.IMPLICIT,
                    "none": TlsMode.NONE}[cfg.smarthost_tls]
            auth = (cfg.smarthost_user, cfg.smarthost_password) if cfg.smarthost_user else None
            return MxRoute((Hop(host, port),), mode, auth)
        target = cfg.transport.get(domain) or cfg.transport.get(domain.lower())
        if target:
            host, port = parse_hostport(target)
            return MxRoute((Hop(host, port),))
        return None

    async def route(self, domain: str) -> MxRoute | RouteFailure:
        """The route for one recipient domain."""
        if not domain.strip("."):
            return RouteFailure(True, "5.1.3", "recipient address has no domain")
        fixed = self._fixed(domain)
        if fixed is not None:
            return fixed
        port = self.config.outbound_port
        literal = _literal(domain)
        if literal is not None:
            if not literal:
                return RouteFailure(True, "5.1.2", f"bad address literal {domain}")
            return MxRoute((Hop(literal, port),))
        try:
            name = to_alabel(domain)
        except ValueError as exc:
            return RouteFailure(True, "5.1.2", str(exc))
        return await self._mx_route(name, port)

    async def _mx_route(self, name: str, port: int) -> MxRoute | RouteFailure:
        answer = await self.resolver.mx(name)
        if isinstance(answer, NullMx):
            return RouteFailure(True, "5.1.10", f"{name} does not accept mail (null MX)")
        if isinstance(answer, TempFail):
            return RouteFailure(False, "4.4.3", f"MX lookup failed: {answer.reason}")
        if isinstance(answer, NoRecords):
            if answer.nxdomain:
                return RouteFailure(True, "5.1.2", f"domain {name} does not exist")
            return MxRoute((Hop(name, port, implicit=True),), policy_domain=name)
        ordered = drop_self(order_mx(answer, self.rng), self.own_hostname)
        if ordered is None:
            return RouteFailure(True, "5.4.6", f"mail for {name} loops back to myself")
        if not ordered:
            return MxRoute((Hop(name, port, implicit=True),), policy_domain=name)
        return MxRoute(tuple(Hop(r.host, port) for r in ordered), policy_domain=name)

    async def targets(self, route: MxRoute, problems: list[RouteFailure],
                      ) -> AsyncIterator[Target]:
        """Every address of every hop in order; address lookups happen only when the hosts
        before have been tried. Lookup problems are appended to ``problems``."""
        for hop in route.hops:
            try:
                ipaddress.ip_address(hop.host)
            except ValueError:
                pass
            else:
                yield Target(hop.host, hop.host, hop.port)
                continue
            answer = await self.resolver.a_aaaa(hop.host)
            if isinstance(answer, TempFail):
                problems.append(RouteFailure(False, "4.4.3", f"{hop.host}: {answer.reason}"))
                continue
            if isinstance(answer, NoRecords):
                # The implicit MX of a domain without address records: the domain cannot get
                # mail (RFC 5321 5.1). A listed MX host without addresses may be fixed later.
                problems.append(RouteFailure(hop.implicit, "5.1.2" if hop.implicit else "4.4.4",
                                             f"{hop.host} has no address records"))
                continue
            for address in answer:
                yield Target(hop.host, address, hop.port)
