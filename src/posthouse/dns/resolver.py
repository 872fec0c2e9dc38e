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


MxAnswer = tuple[MxHost, ...] | NullMx | NoRecords | TempFail
AddressAnswer = tuple[str, ...] | NoRecords | TempFail
TxtAnswer = tuple[str, ...] | NoRecords | TempFail
PtrAnswer = tuple[str, ...] | NoRecords | TempFail


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
