"""DMARC (RFC 7489): policy discovery, identifier alignment and the disposition to apply.

Organizational domains come from the Public Suffix List of the maintained
``publicsuffixlist`` package (RFC 7489 3.2; updated with each release of the package, not a
copy kept here). The evaluation takes the SPF and DKIM results already computed, so DMARC
costs one or two TXT lookups more.

Decisions where the RFC leaves room:
- a message without an author domain in From gets ``permerror`` and no policy; one with
  several (RFC 7489 6.6.1 lets the receiver choose) is evaluated for each of them (up to
  MAX_AUTHOR_DOMAINS) and the strictest outcome applies, so a forged From placed beside one
  the sender can sign for does not slip through;
- a DNS failure while discovering the policy gives ``temperror``: the message is delivered
  and the result recorded, never refused for it;
- ``pct`` samples with an injected random source: an unsampled failure gets the next less
  strict policy (RFC 7489 6.6.4).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

from publicsuffixlist import PublicSuffixList

from posthouse.dns.idn import canonical_domain
from posthouse.dns.resolver import NoRecords, Resolver, TempFail
from posthouse.mailauth.dkim_verify import DkimResult
from posthouse.mailauth.taglist import TagListError, parse_tag_list
from posthouse.message.address import parse_addresses
from posthouse.message.headers import decoded_value, split_header

POLICIES = ("none", "quarantine", "reject")
MAX_AUTHOR_DOMAINS = 5  # more distinct author domains than this: permerror


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    """The tags of a DMARC record that decide a disposition (RFC 7489 6.3)."""

    policy: str
    subdomain_policy: str
    strict_dkim: bool = False
    strict_spf: bool = False
    percent: int = 100
    report_uris: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DmarcResult:
    """The DMARC verdict on one message."""

    result: str  # pass, fail, none, temperror, permerror (RFC 7489 11.2)
    from_domain: str = ""
    policy: str = ""  # the policy the domain asks for this message, "" without a record
    disposition: str = "none"  # what to do: none, quarantine or reject (after pct)
    reason: str = ""

    def resinfo(self) -> str:
        """``dmarc=fail (p=reject dis=reject) header.from=example.com``."""
        parts = [f"dmarc={self.result}"]
        if self.policy:
            parts.append(f"(p={self.policy} dis={self.disposition})")
        elif self.reason and self.result != "none":
            parts.append(f"({self.reason})")
        if self.from_domain:
            parts.append(f"header.from={self.from_domain}")
        return " ".join(parts)


@cache
def _suffixes() -> PublicSuffixList:
    """The Public Suffix List, loaded once (about 0.1 s) on first use."""
    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """The registered domain under the public suffix (RFC 7489 3.2); a public suffix itself
    (or a name the list cannot split) is its own organizational domain."""
    domain = domain.lower().rstrip(".")
    return _suffixes().privatesuffix(domain) or domain


def aligned(identifier: str, author: str, *, strict: bool) -> bool:
    """Identifier alignment (RFC 7489 3.1): equal names, or in relaxed mode the same
    organizational domain."""
    identifier, author = identifier.lower().rstrip("."), author.lower().rstrip(".")
    if strict or identifier == author:
        return identifier == author
    return organizational_domain(identifier) == organizational_domain(author)


def author_domains(message: bytes) -> list[str]:
    """The domains of every address in every From field (RFC 7489 6.6.1), lower-cased."""
    header = split_header(message)
    domains: list[str] = []
    for field in header.get_all("from"):
        for _name, _adl, mailbox, host in parse_addresses(decoded_value(field)):
            if mailbox is not None and host:
                domains.append(canonical_domain(host))  # A-labels (IDNA 2008)
    return domains


def parse_dmarc_record(text: str) -> DmarcRecord | None:
    """The record, or None when ``text`` is not a usable DMARC record (RFC 7489 6.3, 6.6.3:
    a missing or invalid p= with a valid rua= is read as p=none)."""
    try:
        tags = parse_tag_list(text)
    except TagListError:
        return None
    if next(iter(tags), "") != "v" or tags["v"] != "DMARC1":
        return None
    uris = tuple(u.strip() for u in tags.get("rua", "").split(",") if u.strip())
    policy = tags.get("p", "").lower()
    if policy not in POLICIES:
        if not any(u.lower().startswith("mailto:") for u in uris):
            return None
        policy = "none"
    sub = tags.get("sp", "").lower()
    percent = tags.get("pct", "100")
    return DmarcRecord(
        policy=policy,
        subdomain_policy=sub if sub in POLICIES else policy,
        strict_dkim=tags.get("adkim", "r").lower() == "s",
        strict_spf=tags.get("aspf", "r").lower() == "s",
        percent=min(int(percent), 100) if percent.isdigit() else 100,
        report_uris=uris,
    )


async def _discover(resolver: Resolver, domain: str) -> DmarcRecord | TempFail | None:
    """The one DMARC record at ``_dmarc.<domain>``; None for none or several (6.6.3)."""
    answer = await resolver.txt(f"_dmarc.{domain}")
    if isinstance(answer, TempFail):
        return answer
    if isinstance(answer, NoRecords):
        return None
    candidates = [t for t in answer if t.lstrip().startswith("v=DMARC1")]
    if len(candidates) != 1:
        return None
    return parse_dmarc_record(candidates[0])


async def evaluate_dmarc(
    message: bytes,
    resolver: Resolver,
    *,
    spf_result: str,
    spf_domain: str,
    dkim: Sequence[DkimResult],
    sample: Callable[[], float] = random.random,
) -> DmarcResult:
    """The DMARC result of ``message``: ``spf_result``/``spf_domain`` are the SPF verdict
    and the domain it was computed for (MAIL FROM's, or HELO's for a null sender)."""
    authors = list(dict.fromkeys(author_domains(message)))
    if not authors or len(authors) > MAX_AUTHOR_DOMAINS:
        return DmarcResult("permerror", reason="no author domain in From" if not authors
                           else "too many author domains in From")
    results = [await _evaluate_author(author, resolver, spf_result=spf_result,
                                      spf_domain=spf_domain, dkim=dkim, sample=sample)
               for author in authors]
    return max(results, key=_severity)


def _severity(result: DmarcResult) -> tuple[int, int]:
    """Order of outcomes: a failure with a stricter disposition above everything else."""
    rank = {"fail": 4, "temperror": 3, "permerror": 2, "none": 1, "pass": 0}
    return rank.get(result.result, 0), POLICIES.index(result.disposition)


async def _evaluate_author(author: str, resolver: Resolver, *, spf_result: str,
                           spf_domain: str, dkim: Sequence[DkimResult],
                           sample: Callable[[], float]) -> DmarcResult:
    """The DMARC result for one author domain (RFC 7489 6.6)."""
    org = organizational_domain(author)
    found = await _discover(resolver, author)
    if found is None and org != author:
        found = await _discover(resolver, org)
        policy_name = "subdomain"
    else:
        policy_name = "domain"
    if isinstance(found, TempFail):
        return DmarcResult("temperror", author, reason=f"policy lookup: {found.reason}")
    if found is None:
        return DmarcResult("none", author, reason="no policy")
    record = found
    spf_ok = spf_result == "pass" and aligned(spf_domain, author, strict=record.strict_spf)
    dkim_ok = any(r.result == "pass" and aligned(r.domain, author, strict=record.strict_dkim)
                  for r in dkim)
    policy = record.subdomain_policy if policy_name == "subdomain" else record.policy
    if spf_ok or dkim_ok:
        return DmarcResult("pass", author, policy, "none")
    disposition = policy
    if policy != "none" and sample() * 100 >= record.percent:
        disposition = POLICIES[POLICIES.index(policy) - 1]  # RFC 7489 6.6.4
    return DmarcResult("fail", author, policy, disposition, reason="no aligned pass")
