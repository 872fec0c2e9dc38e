"""The SPF evaluator: check_host() of RFC 7208 for the MAIL FROM and HELO identities.

Owns the evaluation rules (RFC 7208 4-6): record lookup and selection, mechanism matching,
include and redirect, the explanation, and the DNS limits of 4.6.4. Record grammar lives in
spf_parse, macros in spf_macros, header fields in spf_header. Lookups go through the injected
Resolver and are awaited; one evaluation's counters live in one _Evaluation object, never in
module state. This module never decides what to do with a message: it returns a verdict.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass, replace
from enum import StrEnum

from posthouse.dns.idn import canonical_domain
from posthouse.dns.resolver import NoRecords, NullMx, Resolver, TempFail
from posthouse.mailauth.spf_macros import (
    MacroPiece,
    MacroValues,
    SpfMacroError,
    expand,
    parse_macro_string,
)
from posthouse.mailauth.spf_parse import (
    SpfRecord,
    SpfSyntaxError,
    SpfTerm,
    is_spf_record,
    parse_record,
)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_DNS_TERMS = frozenset({"include", "a", "mx", "ptr", "exists"})


class SpfResult(StrEnum):
    """The seven results of RFC 7208 2.6."""

    NONE = "none"
    NEUTRAL = "neutral"
    PASS = "pass"  # noqa: S105 (a result name, not a secret)
    FAIL = "fail"
    SOFTFAIL = "softfail"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


_QUALIFIED = {"+": SpfResult.PASS, "-": SpfResult.FAIL, "~": SpfResult.SOFTFAIL,
              "?": SpfResult.NEUTRAL}


@dataclass(frozen=True, slots=True)
class SpfLimits:
    """The bounds of one evaluation (RFC 7208 4.6.4); the defaults are the RFC's."""

    dns_terms: int = 10
    mx_names: int = 10
    ptr_names: int = 10
    void_lookups: int = 2
    total_seconds: float = 20.0


@dataclass(frozen=True, slots=True)
class SpfVerdict:
    """What check_host() found for one identity, with what the header fields need."""

    result: SpfResult
    identity: str  # "mailfrom" or "helo"
    ip: str
    sender: str
    domain: str
    helo: str
    mechanism: str = ""  # the matching term, as written
    explanation: str = ""  # for fail only (RFC 7208 6.2)
    problem: str = ""  # why permerror or temperror


class _Stop(Exception):
    """Ends the whole evaluation with permerror or temperror (RFC 7208 5.2, 6.1)."""

    def __init__(self, result: SpfResult, problem: str) -> None:
        super().__init__(problem)
        self.result = result
        self.problem = problem


async def check_mail_from(resolver: Resolver, ip: str, mail_from: str, helo: str, *,
                          receiver: str = "unknown", limits: SpfLimits | None = None,
                          timestamp: int | None = None) -> SpfVerdict:
    """The MAIL FROM check; a null reverse-path checks postmaster@<helo> (RFC 7208 2.4)."""
    sender = mail_from or f"postmaster@{helo}"
    domain = sender.rpartition("@")[2]
    return await check_host(resolver, ip, domain, sender, helo=helo, identity="mailfrom",
                            receiver=receiver, limits=limits, timestamp=timestamp)


async def check_helo(resolver: Resolver, ip: str, helo: str, *, receiver: str = "unknown",
                     limits: SpfLimits | None = None,
                     timestamp: int | None = None) -> SpfVerdict:
    """The HELO check (RFC 7208 2.3); an address literal has no policy to check: none."""
    if helo.startswith("[") or _is_address(helo):
        return SpfVerdict(SpfResult.NONE, "helo", ip, f"postmaster@{helo}", helo, helo,
                          problem="HELO is an address literal")
    return await check_host(resolver, ip, helo, f"postmaster@{helo}", helo=helo,
                            identity="helo", receiver=receiver, limits=limits,
                            timestamp=timestamp)


async def check_host(resolver: Resolver, ip: str, domain: str, sender: str, *,
                     helo: str = "", identity: str = "mailfrom", receiver: str = "unknown",
                     limits: SpfLimits | None = None,
                     timestamp: int | None = None) -> SpfVerdict:
    """RFC 7208 4: evaluate <domain>'s policy for <ip> and <sender>, within the limits."""
    limits = limits or SpfLimits()
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return SpfVerdict(SpfResult.NONE, identity, ip, sender, domain, helo,
                          problem="the client address is not an IP address")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # RFC 7208 5: an IPv4-mapped client is IPv4
    if "@" not in sender:
        sender = f"postmaster@{sender}"
    local, _, sender_domain = sender.rpartition("@")
    # Internationalized domains are looked up as A-labels (IDNA 2008); one that is not a
    # valid IDN stays as given and fails the domain check below: none (RFC 7208 4.3).
    sender = f"{local or 'postmaster'}@{canonical_domain(sender_domain)}"  # 4.3: no local
    values = MacroValues(sender=sender, domain=canonical_domain(domain), ip=address,
                         helo=helo, receiver=receiver,
                         timestamp=int(time.time()) if timestamp is None else timestamp)
    verdict = SpfVerdict(SpfResult.NONE, identity, str(address), sender, values.domain, helo)
    run = _Evaluation(resolver, limits, values)
    try:
        async with asyncio.timeout(limits.total_seconds):
            result, mechanism, explanation = await run.check(values.domain)
    except _Stop as stop:
        return replace(verdict, result=stop.result, problem=stop.problem)
    except TimeoutError:
        return replace(verdict, result=SpfResult.TEMPERROR,
                       problem=f"evaluation took longer than {limits.total_seconds:g}s")
    return replace(verdict, result=result, mechanism=mechanism, explanation=explanation)


def valid_domain(name: str) -> bool:
    """A multi-label name with labels of 1-63 octets, at most 253 in all (RFC 7208 4.3)."""
    name = name[:-1] if name.endswith(".") else name
    labels = name.split(".")
    return (0 < len(name) <= 253 and len(labels) >= 2
            and all(0 < len(label) <= 63 for label in labels)
            and all(c.isascii() and c.isprintable() and c != " " for c in name))


class _Evaluation:
    """One check_host() call and every recursion under it: the counters of 4.6.4."""

    def __init__(self, resolver: Resolver, limits: SpfLimits, values: MacroValues) -> None:
        self.resolver = resolver
        self.limits = limits
        self.base = values
        self.dns_terms = 0
        self.voids = 0

    async def check(self, domain: str) -> tuple[SpfResult, str, str]:
        """(result, matching term, explanation) of <domain>'s record."""
        if not valid_domain(domain):
            return SpfResult.NONE, "", ""
        record = await self._record(domain)
        if record is None:
            return SpfResult.NONE, "", ""
        values = replace(self.base, domain=domain)
        for directive in record.directives:
            if await self._matches(directive, values):
                result = _QUALIFIED[directive.qualifier]
                explanation = ""
                if result is SpfResult.FAIL and record.explanation is not None:
                    explanation = await self._explain(record.explanation, values)
                return result, directive.text, explanation
        # RFC 7208 6.1: redirect is ignored when the record has an "all" mechanism.
        if record.redirect is not None and not any(d.name == "all" for d in record.directives):
            self._count_term("redirect")
            target = await self._target(record.redirect, values)
            result, mechanism, explanation = await self.check(target)
            if result is SpfResult.NONE:
                raise _Stop(SpfResult.PERMERROR, f"redirect={target}: no SPF record")
            return result, mechanism, explanation
        return SpfResult.NEUTRAL, "", ""

    async def _record(self, domain: str) -> SpfRecord | None:
        answer = await self.resolver.txt(domain)
        if isinstance(answer, TempFail):
            raise _Stop(SpfResult.TEMPERROR, f"TXT {domain}: {answer.reason}")
        if isinstance(answer, NoRecords):
            return None
        records = [text for text in answer if is_spf_record(text)]
        if not records:
            return None
        if len(records) > 1:  # RFC 7208 4.5
            raise _Stop(SpfResult.PERMERROR, f"{domain}: more than one SPF record")
        try:
            return parse_record(records[0])
        except SpfSyntaxError as exc:
            raise _Stop(SpfResult.PERMERROR, f"{domain}: {exc}") from None

    def _count_term(self, name: str) -> None:
        self.dns_terms += 1  # counted before its lookup: the 11th term is never looked up
        if self.dns_terms > self.limits.dns_terms:
            raise _Stop(SpfResult.PERMERROR,
                        f"more than {self.limits.dns_terms} DNS-querying terms ({name})")

    def _void(self, name: str) -> None:
        self.voids += 1
        if self.voids > self.limits.void_lookups:
            raise _Stop(SpfResult.PERMERROR,
                        f"more than {self.limits.void_lookups} void lookups ({name})")

    async def _target(self, spec: tuple[MacroPiece, ...] | None, values: MacroValues) -> str:
        if spec is None:
            return values.domain
        if any(not isinstance(p, str) and p.letter == "p" for p in spec):
            values = replace(values, ptr_name=await self._ptr_macro(values))
        return expand(spec, values).rstrip(".").lower()

    async def _matches(self, m: SpfTerm, values: MacroValues) -> bool:
        ip = values.ip
        if m.name == "all":
            return True
        if m.name in ("ip4", "ip6"):
            return m.network is not None and ip.version == m.network.version \
                and ip in m.network
        self._count_term(m.name)
        target = await self._target(m.domain_spec, values)
        if m.name == "include":
            return await self._include(target)
        if not valid_domain(target):
            return False  # nothing can exist at a malformed name: no query, no match
        if m.name == "a":
            return _any_in(await self._addresses(target, void=True), ip, m)
        if m.name == "mx":
            return await self._mx(target, ip, m)
        if m.name == "ptr":
            names = await self._validated_names(ip)
            return any(n == target or n.endswith("." + target) for n in names)
        # exists: an A query whatever the client's family (RFC 7208 5.7)
        answer = await self.resolver.a(target)
        if isinstance(answer, TempFail):
            raise _Stop(SpfResult.TEMPERROR, f"exists:{target}: {answer.reason}")
        if isinstance(answer, NoRecords) or not answer:
            self._void(f"exists:{target}")
            return False
        return True

    async def _include(self, target: str) -> bool:
        # RFC 7208 5.2: pass matches; fail, softfail, neutral do not; none is permerror.
        result, _, _ = await self.check(target)
        if result is SpfResult.NONE:
            raise _Stop(SpfResult.PERMERROR, f"include:{target}: no SPF record")
        return result is SpfResult.PASS

    async def _addresses(self, host: str, *, void: bool) -> tuple[IpAddress, ...]:
        """The addresses of the client's family at host (A for IPv4, AAAA for IPv6)."""
        lookup = self.resolver.a if self.base.ip.version == 4 else self.resolver.aaaa
        answer = await lookup(host)
        if isinstance(answer, TempFail):
            raise _Stop(SpfResult.TEMPERROR, f"{host}: {answer.reason}")
        if isinstance(answer, NoRecords) or not answer:
            if void:
                self._void(host)
            return ()
        return tuple(_parse_ips(answer))

    async def _mx(self, target: str, ip: IpAddress, m: SpfTerm) -> bool:
        answer = await self.resolver.mx(target)
        if isinstance(answer, TempFail):
            raise _Stop(SpfResult.TEMPERROR, f"mx:{target}: {answer.reason}")
        if isinstance(answer, NoRecords) or (isinstance(answer, tuple) and not answer):
            self._void(f"mx:{target}")
            return False
        if isinstance(answer, NullMx):
            return False
        if len(answer) > self.limits.mx_names:  # RFC 7208 4.6.4
            raise _Stop(SpfResult.PERMERROR,
                        f"mx:{target}: more than {self.limits.mx_names} MX names")
        for host in sorted(answer, key=lambda h: h.preference):
            if _any_in(await self._addresses(host.host, void=False), ip, m):
                return True
        return False

    async def _validated_names(self, ip: IpAddress) -> list[str]:
        """RFC 7208 5.5: PTR names whose own addresses include <ip>; lookup errors skip."""
        answer = await self.resolver.ptr(str(ip))
        if isinstance(answer, TempFail):
            return []  # a DNS error on the PTR lookup: no match (5.5)
        if isinstance(answer, NoRecords) or not answer:
            self._void(f"ptr {ip}")
            return []
        validated = []
        for name in answer[:self.limits.ptr_names]:  # names past the 10th are ignored
            try:
                addresses = await self._addresses(name, void=False)
            except _Stop as stop:
                if stop.result is SpfResult.TEMPERROR:
                    continue  # "that domain name is skipped"
                raise
            if ip in addresses:
                validated.append(name.rstrip(".").lower())
        return validated

    async def _ptr_macro(self, values: MacroValues) -> str:
        """%{p}: the validated name equal to or under <domain>, else any, else "unknown"."""
        names = await self._validated_names(values.ip)
        for good in (lambda n: n == values.domain,
                     lambda n: n.endswith("." + values.domain), lambda n: True):
            for name in names:
                if good(name):
                    return name
        return "unknown"

    async def _explain(self, spec: tuple[MacroPiece, ...], values: MacroValues) -> str:
        """RFC 7208 6.2: the exp= TXT, macro-expanded; any problem means no explanation."""
        try:
            target = await self._target(spec, values)
        except _Stop:
            return ""
        if not valid_domain(target):
            return ""
        answer = await self.resolver.txt(target)
        if not isinstance(answer, tuple) or len(answer) != 1:
            return ""
        try:
            pieces = parse_macro_string(answer[0], explanation=True)
        except SpfMacroError:
            return ""
        if any(not isinstance(p, str) and p.letter == "p" for p in pieces):
            try:
                values = replace(values, ptr_name=await self._ptr_macro(values))
            except _Stop:
                return ""
        return expand(pieces, values, domain=False)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _parse_ips(texts: tuple[str, ...]) -> list[IpAddress]:
    found: list[IpAddress] = []
    for text in texts:
        try:
            found.append(ipaddress.ip_address(text))
        except ValueError:
            continue
    return found


def _any_in(addresses: tuple[IpAddress, ...], ip: IpAddress, m: SpfTerm) -> bool:
    prefix = m.cidr4 if ip.version == 4 else m.cidr6
    network = ipaddress.ip_network((ip, prefix), strict=False)
    return any(a.version == ip.version and a in network for a in addresses)
