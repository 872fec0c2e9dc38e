"""The iprev check (RFC 8601 3, results in 2.7.3) and a HELO check of the client.

iprev: the PTR names of the client's address, then the addresses of each name; ``pass`` when
one name leads back to the client. The HELO check asks whether the name the client gave
resolves, and to the client's address; it is recorded, never acted on here.
Every lookup goes through the Resolver protocol, whose answers never raise.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass

from posthouse.dns.resolver import NoRecords, Resolver, TempFail
from posthouse.mailauth.spf_header import pvalue

_UNSAFE = re.compile(r"[^A-Za-z0-9.:_\[\]-]")
MAX_PTR_NAMES = 10  # like RFC 7208 4.6.4's PTR bound: a client cannot make us chase more


@dataclass(frozen=True, slots=True)
class IprevResult:
    """The iprev result, the client address it speaks for, and the name that matched."""

    result: str  # pass, fail, temperror or permerror (RFC 8601 2.7.3)
    ip: str
    name: str = ""  # the PTR name confirmed by the forward lookup (pass only)

    def resinfo(self, helo_note: str = "") -> str:
        """``iprev=pass policy.iprev=192.0.2.1 (name)`` with an optional HELO note."""
        name = "" if _UNSAFE.search(self.name) else self.name  # a comment: plain names only
        comment = "; ".join(part for part in (name, helo_note) if part)
        # RFC 8601 2.2: an IPv6 address is no token (":"), so it goes quoted.
        return f"iprev={self.result} policy.iprev={pvalue(self.ip)}" + (
            f" ({comment})" if comment else "")


def _same(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


async def _forward(resolver: Resolver, name: str, ip: str) -> tuple[str, ...] | TempFail | None:
    """The addresses of ``name`` in the client's family (None when there are none)."""
    v6 = ipaddress.ip_address(ip).version == 6
    answer = await (resolver.aaaa(name) if v6 else resolver.a(name))
    return None if isinstance(answer, NoRecords) else answer


async def check_iprev(resolver: Resolver, ip: str) -> IprevResult:
    """RFC 8601 3: reverse, then forward lookups."""
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return IprevResult("permerror", ip)
    names = await resolver.ptr(ip)
    if isinstance(names, TempFail):
        return IprevResult("temperror", ip)
    if isinstance(names, NoRecords) or not names:
        return IprevResult("permerror", ip)  # 2.7.3: no PTR data published
    chosen = names[:MAX_PTR_NAMES]
    answers = await asyncio.gather(*(_forward(resolver, n, ip) for n in chosen))
    temporary = False
    for name, addrs in zip(chosen, answers, strict=True):
        if isinstance(addrs, TempFail):
            temporary = True
        elif addrs is not None and any(_same(a, ip) for a in addrs):
            return IprevResult("pass", ip, name)
    return IprevResult("temperror" if temporary else "fail", ip)


async def check_helo_name(resolver: Resolver, helo: str, ip: str) -> str:
    """A short note on the HELO name: ``helo NAME matches``, ``... resolves elsewhere``,
    ``... does not resolve``, ``... lookup failed``, or ``no helo``."""
    if not helo:
        return "no helo"
    if _UNSAFE.search(helo):  # it goes into a comment (RFC 8601 2.2): keep it plain
        return "helo unchecked"
    name = helo
    if helo.startswith("[") and helo.endswith("]"):  # an address literal (RFC 5321 4.1.3)
        literal = helo[1:-1].removeprefix("IPv6:")
        state = "matches" if _same(literal, ip) else "is another address"
        return f"helo {helo} {state}"
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return f"helo {name} unchecked"
    addrs = await _forward(resolver, name, ip)
    if isinstance(addrs, TempFail):
        state = "lookup failed"
    elif addrs is None:
        state = "does not resolve"
    elif any(_same(a, ip) for a in addrs):
        state = "matches"
    else:
        state = "resolves elsewhere"
    return f"helo {name} {state}"
