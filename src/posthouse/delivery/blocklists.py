"""DNS blocklists (RFC 5782): is the client's address, or a sender's domain, listed?

Owns the query names (reversed octets or nibbles under the zone, RFC 5782 2.1 and 2.4; the
domain itself under the zone for a domain list, 3.1), and the mapping of each answer to an
action from [antiabuse]. Never refuses because of DNS: a lookup that fails, times out or
answers outside 127.0.0.0/8 lists nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import dataclass

from posthouse.config import AntiabuseConfig
from posthouse.dns.idn import canonical_domain
from posthouse.dns.resolver import Resolver, TempFail

log = logging.getLogger("posthouse.antiabuse")


@dataclass(frozen=True, slots=True)
class Listing:
    """A positive answer: the zone, the return code and what to do about it."""

    zone: str
    code: str
    action: str  # reject or junk (ignored listings are not returned)


def ip_query_name(ip: str, zone: str) -> str:
    """The name to look up for ``ip`` in ``zone`` (RFC 5782 2.1 octets, 2.4 nibbles)."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if isinstance(addr, ipaddress.IPv4Address):
        labels = str(addr).split(".")
    else:
        labels = list(addr.exploded.replace(":", ""))
    return ".".join(reversed(labels)) + "." + zone


class Blocklists:
    """The configured IP and domain lists, asked through the server's resolver."""

    def __init__(self, resolver: Resolver, config: AntiabuseConfig) -> None:
        self._resolver = resolver
        self._ip_zones = tuple(config.ip_blocklists)
        self._domain_zones = tuple(config.domain_blocklists)
        self._actions = dict(config.blocklist_actions)

    @property
    def enabled(self) -> bool:
        """Whether any list is configured."""
        return bool(self._ip_zones or self._domain_zones)

    async def check_ip(self, ip: str) -> Listing | None:
        """The first listing of ``ip`` that is acted on, in the configured order."""
        try:
            names = [(zone, ip_query_name(ip, zone)) for zone in self._ip_zones]
        except ValueError:  # not an address (a test transport, a Unix socket)
            return None
        return await self._first(names)

    async def check_domain(self, domain: str) -> Listing | None:
        """The first listing of ``domain`` in the domain lists (RFC 5782 3.1)."""
        domain = canonical_domain(domain.strip("."))  # A-labels, as DNS has them
        if not domain or not self._domain_zones:
            return None
        return await self._first([(zone, f"{domain}.{zone}") for zone in self._domain_zones])

    async def _first(self, names: list[tuple[str, str]]) -> Listing | None:
        answers = await asyncio.gather(*(self._resolver.a(name) for _, name in names))
        for (zone, name), answer in zip(names, answers, strict=True):
            if isinstance(answer, TempFail):  # never refuse on DNS trouble
                log.info("blocklist %s: lookup of %s failed (%s); not listed", zone, name,
                         answer.reason)
            if not isinstance(answer, tuple):
                continue
            for code in answer:
                action = self._action(zone, code)
                if action != "ignore":
                    return Listing(zone, code, action)
        return None

    def _action(self, zone: str, code: str) -> str:
        exact = self._actions.get(f"{zone}:{code}")
        if exact is not None:
            return exact
        # RFC 5782 2.1: listings answer in 127.0.0.0/8; 127.0.0.1 is never a listing, and
        # 127.255.255.0/24 is what some lists answer to refused or over-quota queriers.
        if not code.startswith("127.") or code == "127.0.0.1" or code.startswith("127.255.255."):
            return "ignore"
        return self._actions.get(zone, "reject")
