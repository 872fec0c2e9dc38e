"""DKIM verification of arriving mail (RFC 6376 6), rsa-sha256 and ed25519-sha256 (RFC 8463),
with the key rules of RFC 8301: rsa-sha1 is never valid, RSA keys below 1024 bits are refused.

Every signature gets its own result; the keys of all signatures are looked up concurrently
through the injected Resolver (TXT at ``<s>._domainkey.<d>``), once per selector and domain.
The results follow RFC 8601 2.7.1:

- pass: the signature verified;
- fail: it did not (header hash, body hash, expired x=, l= beyond the body);
- neutral: the DKIM-Signature field itself is malformed (tag syntax, tags missing, base64);
- permerror: it cannot verify, now or later (From not signed, i= outside d=, rsa-sha1, a key
  too small, no key, a revoked key, a malformed key record, an unknown algorithm);
- temperror: the key lookup failed for now.

Canonicalization (``dkim_canon``), keys (``dkim_keys``) and the signature check
(``dkim_signature``) are posthouse's own, shared with ARC; no third-party DKIM code runs on
arriving mail. This module reads what only DKIM-Signature has (v=, i=, x=, t=, q=).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from posthouse.dns.resolver import Resolver
from posthouse.mailauth.dkim_keys import DkimKey, SignatureVerdict, fetch_key
from posthouse.mailauth.dkim_signature import (
    SignedFields,
    check_message_signature,
    field_tags,
    number,
    parse_signed_fields,
)
from posthouse.mailauth.taglist import without_whitespace
from posthouse.message.headers import Field, split_header

# More signatures than this are not checked (each costs a DNS lookup and a public-key
# operation); the rest are reported as neutral.
MAX_SIGNATURES = 16
_REQUIRED_TAGS = ("v", "a", "b", "bh", "d", "h", "s")
_LINE_END = re.compile(rb"\r?\n")


@dataclass(frozen=True, slots=True)
class DkimResult:
    """The verdict on one DKIM-Signature field."""

    result: str  # pass, fail, neutral, permerror, temperror (RFC 8601 2.7.1)
    domain: str = ""  # d=, lower-cased
    selector: str = ""
    algorithm: str = ""
    identity: str = ""  # i= as given, "" when absent
    signature_start: str = ""  # the first characters of b=, for header.b (RFC 6008)
    reason: str = ""

    def resinfo(self) -> str:
        """This result as an Authentication-Results resinfo (RFC 8601 2.7.1, RFC 6008)."""
        parts = [f"dkim={self.result}"]
        if self.reason and self.result != "pass":
            parts.append(f"({self.reason})")
        if self.domain:
            parts.append(f"header.d={self.domain}")
        if self.identity:
            parts.append(f"header.i={self.identity}")
        if self.selector:
            parts.append(f"header.s={self.selector}")
        if self.algorithm:
            parts.append(f"header.a={self.algorithm}")
        if self.signature_start:
            parts.append(f"header.b={self.signature_start}")
        return " ".join(parts)


async def verify_dkim(message: bytes, resolver: Resolver, *, now: int) -> tuple[DkimResult, ...]:
    """One result per DKIM-Signature field of ``message``, topmost first; ``now`` is the
    current time in seconds (x= checks). No signature gives an empty tuple (dkim=none)."""
    message = _LINE_END.sub(b"\r\n", message)
    header = split_header(message)
    fields = list(header.get_all("dkim-signature"))
    parsed: list[SignedFields | DkimResult] = []
    for i, field in enumerate(fields):
        if i >= MAX_SIGNATURES:
            parsed.append(DkimResult("neutral", reason="not checked: too many signatures"))
            continue
        try:
            parsed.append(_parse_signature(field, now))
        except SignatureVerdict as verdict:
            parsed.append(_described(field, verdict))
    wanted = {(s.selector, s.domain) for s in parsed if isinstance(s, SignedFields)}
    names = sorted(wanted)
    answers = await asyncio.gather(*(fetch_key(resolver, s, d) for s, d in names))
    keys = dict(zip(names, answers, strict=True))
    body = message[header.body_start:] if header.has_blank_line else b""
    results: list[DkimResult] = []
    for sig in parsed:
        if isinstance(sig, DkimResult):
            results.append(sig)
            continue
        try:
            key = keys[(sig.selector, sig.domain)]
            _check_strict_identity(sig, key)
            check_message_signature(sig, key, header.fields, body)
            results.append(_result(sig, "pass", ""))
        except SignatureVerdict as verdict:
            results.append(_result(sig, verdict.result, verdict.reason))
    return tuple(results)


def _result(sig: SignedFields, result: str, reason: str) -> DkimResult:
    return DkimResult(result, sig.domain, sig.selector, sig.algorithm,
                      sig.tags.get("i", ""), without_whitespace(sig.tags["b"])[:8], reason)


def _described(field: Field, verdict: SignatureVerdict) -> DkimResult:
    """A result for a signature that did not parse, with whatever d=/s= it names."""
    try:
        tags = field_tags(field)
    except SignatureVerdict:
        tags = {}
    return DkimResult(verdict.result, tags.get("d", "").lower(), tags.get("s", ""),
                      tags.get("a", ""), "", "", verdict.reason)


def _parse_signature(field: Field, now: int) -> SignedFields:
    tags = field_tags(field)
    if "v" in tags and tags["v"] != "1":
        raise SignatureVerdict("neutral", f"unknown signature version v={tags['v'][:8]}")
    sig = parse_signed_fields(field, tags, _REQUIRED_TAGS)
    if "q" in tags and "dns/txt" not in tags["q"].lower().split(":"):
        raise SignatureVerdict("permerror", "no supported query method in q=")
    if "from" not in sig.signed:
        raise SignatureVerdict("permerror", "From is not signed")
    _check_identity(tags.get("i"), sig.domain)
    expires = number(tags, "x")
    timestamp = number(tags, "t")
    if expires is not None and timestamp is not None and expires < timestamp:
        raise SignatureVerdict("permerror", "x= before t=")
    if expires is not None and expires < now:
        raise SignatureVerdict("fail", "signature expired")
    return sig


def _check_identity(identity: str | None, domain: str) -> None:
    """RFC 6376 3.5 i=: the domain of the identity is d= or a subdomain of it."""
    if identity is None:
        return
    at_domain = identity.rpartition("@")[2].lower().rstrip(".")
    if "@" not in identity or not (at_domain == domain or at_domain.endswith("." + domain)):
        raise SignatureVerdict("permerror", "i= is not within d=")


def _check_strict_identity(sig: SignedFields, key: DkimKey | SignatureVerdict) -> None:
    """A key with t=s requires i= to be in d= exactly (RFC 6376 3.6.1)."""
    if isinstance(key, DkimKey) and key.strict_identity:
        identity_domain = sig.tags.get("i", "@" + sig.domain).rpartition("@")[2].lower()
        if identity_domain.rstrip(".") != sig.domain:
            raise SignatureVerdict("permerror", "key requires i= to be d= exactly (t=s)")
