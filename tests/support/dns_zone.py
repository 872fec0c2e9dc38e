"""An in-memory Resolver over a zone dict, the same dict tests/support/dnsserver.py serves.

Records are name -> type -> rdata in zone-file text; a name missing is NXDOMAIN, a name in
``servfail`` is TempFail. Every lookup is appended to ``queries``.
"""

from __future__ import annotations

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.reversename

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

Records = dict[str, dict[str, list[str]]]


class ZoneResolver:
    """A Resolver answering from a zone dict, without sockets."""

    def __init__(self, records: Records, servfail: set[str] | None = None) -> None:
        self.records = {k.lower().rstrip("."): v for k, v in records.items()}
        self.servfail = {n.lower().rstrip(".") for n in servfail or set()}
        self.queries: list[tuple[str, str]] = []

    def _rdata(self, name: str, rdtype: str) -> list[dns.rdata.Rdata] | NoRecords | TempFail:
        name = name.lower().rstrip(".")
        self.queries.append((name, rdtype))
        if name in self.servfail:
            return TempFail(f"{rdtype} {name}: SERVFAIL")
        entry = self.records.get(name)
        if entry is None:
            return NoRecords(nxdomain=True)
        texts = entry.get(rdtype, [])
        if not texts:
            return NoRecords()
        kind = dns.rdatatype.from_text(rdtype)
        return [dns.rdata.from_text(dns.rdataclass.IN, kind, t) for t in texts]

    async def mx(self, domain: str) -> MxAnswer:
        got = self._rdata(domain, "MX")
        if not isinstance(got, list):
            return got
        hosts = tuple(MxHost(r.preference, r.exchange.to_text(omit_final_dot=True).lower())
                      for r in got if r.exchange.to_text() != ".")
        return hosts if hosts else NullMx()

    async def a_aaaa(self, host: str) -> AddressAnswer:
        v4, v6 = await self.a(host), await self.aaaa(host)
        found = [a for r in (v4, v6) if isinstance(r, tuple) for a in r]
        return tuple(found) if found else v4

    async def a(self, host: str) -> AddressAnswer:
        got = self._rdata(host, "A")
        return tuple(r.to_text() for r in got) if isinstance(got, list) else got

    async def aaaa(self, host: str) -> AddressAnswer:
        got = self._rdata(host, "AAAA")
        return tuple(r.to_text() for r in got) if isinstance(got, list) else got

    async def txt(self, name: str) -> TxtAnswer:
        got = self._rdata(name, "TXT")
        if not isinstance(got, list):
            return got
        return tuple(b"".join(r.strings).decode("utf-8", "replace") for r in got)

    async def ptr(self, address: str) -> PtrAnswer:
        rname = dns.reversename.from_address(address).to_text(omit_final_dot=True)
        got = self._rdata(rname, "PTR")
        if not isinstance(got, list):
            return got
        return tuple(r.target.to_text(omit_final_dot=True).lower() for r in got)

    async def tlsa(self, name: str) -> TlsaAnswer:
        got = self._rdata(name, "TLSA")
        if not isinstance(got, list):
            return got
        return TlsaRecords(tuple(TlsaRecord(r.usage, r.selector, r.mtype, bytes(r.cert))
                                 for r in got), secure=True)

    async def srv(self, name: str) -> SrvAnswer:
        got = self._rdata(name, "SRV")
        if not isinstance(got, list):
            return got
        return tuple(SrvRecord(r.priority, r.weight, r.port,
                               r.target.to_text(omit_final_dot=True).lower()) for r in got)

    async def is_secure(self, name: str, rdtype: str) -> bool:
        return True
