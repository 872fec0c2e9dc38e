"""The Resolver protocol (injected, never global) and its answers as typed values.

Lookups never raise for DNS outcomes: a missing name or record is ``NoRecords``, a server
failure or timeout is ``TempFail``. Callers decide what each means (RFC 5321 5.1 for mail
routing, RFC 7208 for SPF, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class MxHost:
    """One MX record: preference and exchange host (lower-case, no trailing dot)."""

    preference: int
    host: str


@dataclass(frozen=True, slots=True)
class NullMx:
    """The domain publishes a null MX: it accepts no mail at all (RFC 7505)."""


@dataclass(frozen=True, slots=True)
class NoRecords:
    """No record of the asked type; ``nxdomain`` when the name itself does not exist."""

    nxdomain: bool = False


@dataclass(frozen=True, slots=True)
class TempFail:
    """The lookup could not be completed now (SERVFAIL, timeout, no server): retry later."""

    reason: str


@dataclass(frozen=True, slots=True)
class TlsaRecord:
    """One TLSA record (RFC 6698 2.1): certificate usage, selector, matching type, data."""

    usage: int
    selector: int
    mtype: int
    data: bytes


@dataclass(frozen=True, slots=True)
class TlsaRecords:
    """The TLSA RRset of a name; ``secure`` when the resolver set the AD bit (RFC 4035 3.2.3)."""

    records: tuple[TlsaRecord, ...]
    secure: bool


@dataclass(frozen=True, slots=True)
class SrvRecord:
    """One SRV record (RFC 2782): priority, weight, port, target (lower case, no dot)."""

    priority: int
    weight: int
    port: int
    target: str


MxAnswer = tuple[MxHost, ...] | NullMx | NoRecords | TempFail
AddressAnswer = tuple[str, ...] | NoRecords | TempFail
TxtAnswer = tuple[str, ...] | NoRecords | TempFail
PtrAnswer = tuple[str, ...] | NoRecords | TempFail
TlsaAnswer = TlsaRecords | NoRecords | TempFail
SrvAnswer = tuple[SrvRecord, ...] | NoRecords | TempFail


class Resolver(Protocol):
    """The DNS lookups posthouse needs."""

    async def mx(self, domain: str) -> MxAnswer:
        """MX records of a domain (A-label form), in the order the server gave them."""

    async def a_aaaa(self, host: str) -> AddressAnswer:
        """IPv4 then IPv6 addresses of a host, as text."""

    async def a(self, host: str) -> AddressAnswer:
        """IPv4 addresses of a host only (one query; SPF counts each lookup)."""

    async def aaaa(self, host: str) -> AddressAnswer:
        """IPv6 addresses of a host only (one query)."""

    async def txt(self, name: str) -> TxtAnswer:
        """TXT records of a name, each record's strings concatenated (RFC 7208 3.3)."""

    async def ptr(self, address: str) -> PtrAnswer:
        """Host names (lower-case, no trailing dot) of an IPv4 or IPv6 address's PTR records."""

    async def tlsa(self, name: str) -> TlsaAnswer:
        """TLSA records of a name such as ``_25._tcp.mx.example.org`` (RFC 7672 2.2), asked
        with the DO and AD bits; the answer says whether the resolver validated it."""

    async def srv(self, name: str) -> SrvAnswer:
        """SRV records of a name such as ``_imaps._tcp.example.org`` (RFC 2782; the web
        admin's check of the records ``posthouse dns`` prints, RFC 6186)."""

    async def is_secure(self, name: str, rdtype: str) -> bool:
        """Whether the answer (records or their absence) for ``name``/``rdtype`` came with
        the AD bit: RFC 7672 2.2.1 applies DANE only under a secure MX RRset."""
