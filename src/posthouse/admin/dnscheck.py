"""What DNS says now about the records ``posthouse dns`` asks an operator to publish.

Each record line of ``operations.domain_dns_records`` ("name. TYPE data") is looked up
through the server's own resolver (dns/, the one app.py builds, with its cache): MX and TXT
and SRV records are compared with what should be there; a CNAME is checked by what it leads
to (the name must resolve to this host's addresses, as the resolver follows CNAMEs). Other
types are shown unchecked. Comment lines are skipped.
Lookups never raise (dns/resolver.py), so neither does this.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from posthouse.dns.resolver import MxHost, NoRecords, Resolver, SrvRecord, TempFail

OK = "ok"
MISSING = "missing"
DIFFERENT = "different"
UNCHECKED = "not checked"
UNAVAILABLE = "lookup failed"


@dataclass(frozen=True)
class RecordCheck:
    """One record to publish and what DNS answers for it."""

    name: str  # without the trailing dot
    rtype: str
    expected: str
    verdict: str  # OK, MISSING, DIFFERENT, UNCHECKED, UNAVAILABLE
    found: str  # what DNS says, as text


def parse_record(line: str) -> tuple[str, str, str] | None:
    """(name, type, data) of a zone-file line "name. TYPE data"; None for a comment."""
    if line.startswith(";"):
        return None
    parts = line.split(None, 2)
    if len(parts) < 3:
        return None
    return parts[0].rstrip("."), parts[1].upper(), parts[2]


def txt_value(data: str) -> str:
    """The text of TXT rdata in zone-file form ("a" "b" -> ab)."""
    chunks = []
    rest = data.strip()
    while rest.startswith('"'):
        end = rest.find('"', 1)
        while end > 0 and rest[end - 1] == "\\":
            end = rest.find('"', end + 1)
        if end < 0:
            break
        chunks.append(rest[1:end].replace('\\"', '"').replace("\\\\", "\\"))
        rest = rest[end + 1:].strip()
    return "".join(chunks) if chunks else data


async def check_records(resolver: Resolver, hostname: str, lines: list[str]) -> list[RecordCheck]:
    """Every record of ``lines`` with the verdict of a live lookup (concurrently)."""
    records = [r for r in (parse_record(line) for line in lines) if r is not None]
    return list(await asyncio.gather(*(_check(resolver, hostname, *r) for r in records)))


async def _check(resolver: Resolver, hostname: str, name: str, rtype: str,
                 data: str) -> RecordCheck:
    if rtype == "MX":
        return await _check_mx(resolver, name, data)
    if rtype == "TXT":
        return await _check_txt(resolver, name, data)
    if rtype == "CNAME":
        return await _check_cname(resolver, hostname, name, data)
    if rtype == "SRV":
        return await _check_srv(resolver, name, data)
    return RecordCheck(name, rtype, data, UNCHECKED, "")


async def _check_mx(resolver: Resolver, name: str, data: str) -> RecordCheck:
    answer = await resolver.mx(name)
    if isinstance(answer, (NoRecords, TempFail)):
        return _absent(name, "MX", data, answer)
    if not isinstance(answer, tuple):
        return RecordCheck(name, "MX", data, DIFFERENT, "null MX (0 .)")
    pref, _, host = data.partition(" ")
    wanted = MxHost(int(pref), host.strip().rstrip(".").lower())
    found = ", ".join(f"{m.preference} {m.host}." for m in answer)
    if wanted in answer:
        return RecordCheck(name, "MX", data, OK, found)
    if any(m.host == wanted.host for m in answer):
        return RecordCheck(name, "MX", data, OK, found)  # another preference is fine
    return RecordCheck(name, "MX", data, DIFFERENT, found)


async def _check_txt(resolver: Resolver, name: str, data: str) -> RecordCheck:
    answer = await resolver.txt(name)
    if isinstance(answer, (NoRecords, TempFail)):
        return _absent(name, "TXT", data, answer)
    wanted = txt_value(data)
    tag = wanted.split(";", 1)[0].split(None, 1)[0]  # v=spf1, v=DKIM1, v=DMARC1 ...
    same_kind = [t for t in answer if t.split(";", 1)[0].split(None, 1)[:1] == [tag]]
    found = " | ".join(same_kind or answer)
    if any(_squeeze(t) == _squeeze(wanted) for t in same_kind):
        return RecordCheck(name, "TXT", data, OK, found)
    return RecordCheck(name, "TXT", data, DIFFERENT if same_kind else MISSING, found)


async def _check_cname(resolver: Resolver, hostname: str, name: str,
                       data: str) -> RecordCheck:
    answer, ours = await asyncio.gather(resolver.a_aaaa(name), resolver.a_aaaa(hostname))
    if isinstance(answer, (NoRecords, TempFail)):
        return _absent(name, "CNAME", data, answer)
    found = "addresses " + ", ".join(answer)
    if isinstance(ours, tuple) and set(answer) == set(ours):
        return RecordCheck(name, "CNAME", data, OK, found)
    return RecordCheck(name, "CNAME", data, DIFFERENT, found + f" (not those of {hostname})")


async def _check_srv(resolver: Resolver, name: str, data: str) -> RecordCheck:
    answer = await resolver.srv(name)
    if isinstance(answer, (NoRecords, TempFail)):
        return _absent(name, "SRV", data, answer)
    found = ", ".join(f"{r.priority} {r.weight} {r.port} {r.target}." for r in answer)
    priority, weight, port, target = data.split()
    wanted = SrvRecord(int(priority), int(weight), int(port), target.rstrip(".").lower())
    if any((r.port, r.target) == (wanted.port, wanted.target) for r in answer):
        return RecordCheck(name, "SRV", data, OK, found)  # priorities and weights may differ
    return RecordCheck(name, "SRV", data, DIFFERENT, found)


def _absent(name: str, rtype: str, data: str, answer: NoRecords | TempFail) -> RecordCheck:
    if isinstance(answer, TempFail):
        return RecordCheck(name, rtype, data, UNAVAILABLE, answer.reason)
    return RecordCheck(name, rtype, data, MISSING, "NXDOMAIN" if answer.nxdomain else "none")


def _squeeze(text: str) -> str:
    return "".join(text.split())
