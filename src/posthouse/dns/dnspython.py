"""The Resolver on dnspython's asyncio stub resolver.

With a configured nameserver ("host:port", config ``[dns] resolver``) only that server is
asked, which is how tests point posthouse at their own DNS server on loopback; otherwise the
system's /etc/resolv.conf is read on first use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.name
import dns.rdatatype
import dns.resolver
import dns.reversename
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.PTR import PTR
from dns.rdtypes.ANY.TLSA import TLSA
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.SRV import SRV

from posthouse.config import parse_hostport
from posthouse.dns.resolver import (
    AddressAnswer,
    MxAnswer,
    MxHost,
    NoRecords,
    NullMx,
    PtrAnswer,
    SrvAnswer,
    SrvRecord,
    TempFail,
    TlsaAnswer,
    TlsaRecord,
    TlsaRecords,
    TxtAnswer,
)

T = TypeVar("T")


class DnsPythonResolver:
    """A Resolver asking either one given nameserver or the system's."""

    def __init__(self, nameserver: str = "", *, timeout: float = 10.0,
                 cache_entries: int = 0) -> None:
        self._nameserver = nameserver
        self._timeout = timeout
        self._cache_entries = cache_entries
        self._resolver: dns.asyncresolver.Resolver | None = None

    def _get(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            if self._nameserver:
                host, port = parse_hostport(self._nameserver)
                res = dns.asyncresolver.Resolver(configure=False)
                res.nameservers = [host]
                res.port = port
            else:
                res = dns.asyncresolver.Resolver(configure=True)
            res.lifetime = self._timeout
            # AD asks a validating resolver to say whether it validated (RFC 6840 5.7); DO
            # (RFC 3225) is what older resolvers need before they set AD.
            res.flags = dns.flags.RD | dns.flags.AD
            res.use_edns(0, dns.flags.DO, 1232)
            if self._cache_entries:  # answers (negative ones too) kept for their TTL
                res.cache = dns.resolver.LRUCache(self._cache_entries)
            self._resolver = res
        return self._resolver

    async def _query(self, name: str, rdtype: str, convert: Callable[[dns.resolver.Answer], T],
                     ) -> T | NoRecords | TempFail:
        try:
            qname = dns.name.from_text(name)
        except dns.exception.DNSException:
            return NoRecords(nxdomain=True)  # not a valid domain name: nothing can exist there
        try:
            answer = await self._get().resolve(qname, rdtype, search=False)
        except dns.resolver.NXDOMAIN:
            return NoRecords(nxdomain=True)
        except dns.resolver.NoAnswer:
            return NoRecords()
        except (dns.exception.DNSException, OSError) as exc:
            return TempFail(f"{rdtype} {name}: {type(exc).__name__}")
        return convert(answer)

    async def mx(self, domain: str) -> MxAnswer:
        """MX records; a lone "." exchange is a null MX (RFC 7505 3)."""
        return await self._query(domain, "MX", _mx_hosts)

    async def a_aaaa(self, host: str) -> AddressAnswer:
        """A and AAAA asked together; one family failing does not hide the other's answer."""
        v4, v6 = await asyncio.gather(self._query(host, "A", _addresses),
                                      self._query(host, "AAAA", _addresses))
        found = [a for r in (v4, v6) if isinstance(r, tuple) for a in r]
        if found:
            return tuple(found)
        for r in (v4, v6):
            if isinstance(r, TempFail):
                return r
        return NoRecords(nxdomain=isinstance(v4, NoRecords) and v4.nxdomain)

    async def a(self, host: str) -> AddressAnswer:
        """A records only."""
        return await self._query(host, "A", _addresses)

    async def aaaa(self, host: str) -> AddressAnswer:
        """AAAA records only."""
        return await self._query(host, "AAAA", _addresses)

    async def txt(self, name: str) -> TxtAnswer:
        """TXT records, character-strings of one record joined without separator."""
        return await self._query(name, "TXT", _texts)

    async def srv(self, name: str) -> SrvAnswer:
        """SRV records of a name."""
        return await self._query(name, "SRV", _srv_records)

    async def ptr(self, address: str) -> PtrAnswer:
        """PTR records of the address's in-addr.arpa or ip6.arpa name."""
        try:
            rname = dns.reversename.from_address(address).to_text()
        except (dns.exception.DNSException, ValueError):
            return NoRecords(nxdomain=True)
        return await self._query(rname, "PTR", _ptr_names)

    async def is_secure(self, name: str, rdtype: str) -> bool:
        """The AD bit of the answer; False on any failure."""
        try:
            answer = await self._get().resolve(dns.name.from_text(name), rdtype, search=False,
                                               raise_on_no_answer=False)
        except (dns.exception.DNSException, OSError):
            return False
        return answer.response is not None and bool(answer.response.flags & dns.flags.AD)

    async def tlsa(self, name: str) -> TlsaAnswer:
        """TLSA records with the AD bit of the answer (RFC 7672 2.2)."""
        return await self._query(name, "TLSA", _tlsa)


def _tlsa(answer: dns.resolver.Answer) -> TlsaRecords:
    secure = answer.response is not None and bool(answer.response.flags & dns.flags.AD)
    return TlsaRecords(tuple(TlsaRecord(r.usage, r.selector, r.mtype, bytes(r.cert))
                             for r in answer if isinstance(r, TLSA)), secure)


def _mx_hosts(answer: dns.resolver.Answer) -> tuple[MxHost, ...] | NullMx:
    records = [r for r in answer if isinstance(r, MX)]
    hosts = tuple(MxHost(r.preference, r.exchange.to_text(omit_final_dot=True).lower())
                  for r in records if r.exchange != dns.name.root)
    if records and not hosts:
        # Only "." exchanges: a null MX. RFC 7505 3 allows just one such record, preference
        # 0; other preferences are taken the same way, since "." can never be connected to.
        return NullMx()
    return hosts


def _addresses(answer: dns.resolver.Answer) -> tuple[str, ...]:
    return tuple(r.to_text() for r in answer
                 if r.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA))


def _srv_records(answer: dns.resolver.Answer) -> tuple[SrvRecord, ...]:
    return tuple(SrvRecord(r.priority, r.weight, r.port,
                           r.target.to_text(omit_final_dot=True).lower())
                 for r in answer if isinstance(r, SRV))


def _ptr_names(answer: dns.resolver.Answer) -> tuple[str, ...]:
    return tuple(r.target.to_text(omit_final_dot=True).lower()
                 for r in answer if isinstance(r, PTR))


def _texts(answer: dns.resolver.Answer) -> tuple[str, ...]:
    return tuple(b"".join(r.strings).decode("utf-8", "replace")
                 for r in answer if isinstance(r, TXT))
