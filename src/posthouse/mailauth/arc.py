"""ARC chain validation of arriving mail (RFC 8617 5.2): the result none, pass or fail, the
oldest-pass instance and the signing domains of the chain.

The ARC sets are grouped by their instance i= (1..50, RFC 8617 4.2.1). The chain fails when
a set is incomplete or doubled, instances have gaps, the latest seal says cv=fail, a cv= is
not none for i=1 and pass above (RFC 8617 5.2 steps 2-4), the latest ARC-Message-Signature
does not verify (step 5) or any ARC-Seal does not (step 7). Signatures are checked with the
same canonicalization, key lookup and public-key code as DKIM (``dkim_canon``, ``dkim_keys``,
``dkim_signature``); keys are looked up concurrently, once per selector and domain.

ARC defines no temperror: a key that cannot be fetched now makes the chain fail, with the
reason saying so. This module never decides what a result means for delivery.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from posthouse.dns.resolver import Resolver
from posthouse.mailauth.dkim_canon import canonical_field, unsigned_self
from posthouse.mailauth.dkim_keys import DkimKey, SignatureVerdict, fetch_key
from posthouse.mailauth.dkim_signature import (
    SignedFields,
    check_message_signature,
    check_signature,
    field_tags,
    parse_signed_fields,
)
from posthouse.message.headers import Field, Header, split_header

MAX_INSTANCE = 50  # RFC 8617 4.2.1
SEAL = "arc-seal"
MESSAGE_SIGNATURE = "arc-message-signature"
RESULTS = "arc-authentication-results"
# RFC 8617 5.1.1: within a set, the seal signs AAR, AMS, AS in this order.
_SET_ORDER = (RESULTS, MESSAGE_SIGNATURE, SEAL)
_AMS_TAGS = ("i", "a", "b", "bh", "d", "h", "s")
_AS_TAGS = ("i", "cv", "a", "b", "d", "s")
_LINE_END = re.compile(rb"\r?\n")
_AAR_INSTANCE = re.compile(rb"\s*i\s*=\s*([0-9]{1,3})\s*;")


@dataclass(frozen=True, slots=True)
class ArcResult:
    """The chain validation status of one message."""

    result: str  # none, pass, fail (RFC 8617 4.4)
    instance: int = 0  # the highest i=, 0 without a chain
    oldest_pass: int | None = None  # RFC 8617 5.2 step 6: 0 when every AMS verifies
    chain: tuple[str, ...] = ()  # the d= of each ARC-Seal, i=1 first
    reason: str = ""

    def resinfo(self, remote_ip: str = "") -> str:
        """``arc=pass (i=2; chain list.test, sender.test) smtp.remote-ip=192.0.2.1
        header.oldest-pass=0``: the properties registered for arc (RFC 8617 6) are
        smtp.remote-ip and header.oldest-pass; the chain's domains go in the comment."""
        parts = [f"arc={self.result}"]
        comment = []
        if self.instance:
            comment.append(f"i={self.instance}")
        if self.chain:
            comment.append("chain " + ", ".join(self.chain))
        if self.reason and self.result != "pass":
            comment.append(self.reason)
        if comment:
            parts.append("(" + "; ".join(comment) + ")")
        if remote_ip:
            parts.append(f"smtp.remote-ip={remote_ip}")
        if self.result == "pass" and self.oldest_pass is not None:
            parts.append(f"header.oldest-pass={self.oldest_pass}")
        return " ".join(parts)


@dataclass(slots=True)
class _ArcSet:
    """The fields of one instance seen so far, by lower-cased name."""

    instance: int
    fields: dict[str, Field] = field(default_factory=dict)


class _ChainBroken(Exception):
    """The chain fails; the message says why (a verdict, not an error of posthouse)."""


async def verify_arc(message: bytes, resolver: Resolver) -> ArcResult:
    """The ARC chain validation status of ``message`` (RFC 8617 5.2)."""
    message = _LINE_END.sub(b"\r\n", message)
    header = split_header(message)
    try:
        sets = _arc_sets(header)
    except _ChainBroken as exc:
        return ArcResult("fail", reason=str(exc))
    if not sets:
        return ArcResult("none")
    newest = len(sets)
    try:
        seals, signatures = _parse_sets(sets)
    except _ChainBroken as exc:
        return ArcResult("fail", newest, reason=str(exc))
    chain = tuple(s.domain for s in seals)
    wanted = sorted({(s.selector, s.domain) for s in (*seals, *signatures)})
    answers = await asyncio.gather(*(fetch_key(resolver, s, d) for s, d in wanted))
    keys = dict(zip(wanted, answers, strict=True))
    body = message[header.body_start:] if header.has_blank_line else b""

    def ams_ok(sig: SignedFields) -> str:
        try:
            check_message_signature(sig, keys[(sig.selector, sig.domain)], header.fields, body)
        except SignatureVerdict as verdict:
            return verdict.reason
        return ""

    problem = ams_ok(signatures[-1])
    if problem:  # RFC 8617 5.2 step 5
        return ArcResult("fail", newest, chain=chain,
                         reason=f"ARC-Message-Signature i={newest}: {problem}")
    oldest_pass = 0  # step 6
    for sig in reversed(signatures[:-1]):
        if ams_ok(sig):
            oldest_pass = int(sig.tags["i"]) + 1
            break
    for seal in reversed(seals):  # step 7
        problem = _seal_problem(seal, sets, keys)
        if problem:
            return ArcResult("fail", newest, oldest_pass, chain,
                             reason=f"ARC-Seal i={seal.tags['i']}: {problem}")
    return ArcResult("pass", newest, oldest_pass, chain)


def _instance(f: Field, name: str) -> int:
    """The i= of an ARC field: the leading ``i=N;`` of an ARC-Authentication-Results
    (RFC 8617 4.1.1), the tag of a signature or seal."""
    if name == RESULTS:
        match = _AAR_INSTANCE.match(f.value)
        text = match.group(1).decode() if match else ""
    else:
        try:
            text = field_tags(f).get("i", "")
        except SignatureVerdict:
            text = ""
    if not text.isdigit() or not 1 <= int(text) <= MAX_INSTANCE:
        raise _ChainBroken(f"{name} without a valid instance i= (1..{MAX_INSTANCE})")
    return int(text)


def _arc_sets(header: Header) -> list[_ArcSet]:
    """The sets, i=1 first; raises unless they are complete, single and without gaps
    (RFC 8617 5.2 step 2)."""
    by_instance: dict[int, _ArcSet] = {}
    for f in header.fields:
        name = f.name.lower()
        if name not in _SET_ORDER:
            continue
        number = _instance(f, name)
        arc_set = by_instance.setdefault(number, _ArcSet(number))
        if name in arc_set.fields:
            raise _ChainBroken(f"two {name} fields with i={number}")
        arc_set.fields[name] = f
    sets = [by_instance[i] for i in sorted(by_instance)]
    for expected, arc_set in enumerate(sets, start=1):
        if arc_set.instance != expected:
            raise _ChainBroken(f"ARC set i={expected} is missing")
        if len(arc_set.fields) != len(_SET_ORDER):
            lacking = [n for n in _SET_ORDER if n not in arc_set.fields]
            raise _ChainBroken(f"ARC set i={expected} lacks {', '.join(lacking)}")
    return sets


def _parse_sets(sets: list[_ArcSet]) -> tuple[list[SignedFields], list[SignedFields]]:
    """The seals and message signatures, i=1 first, with the cv= rules checked
    (RFC 8617 5.2 steps 3 and 4)."""
    seals: list[SignedFields] = []
    signatures: list[SignedFields] = []
    for arc_set in sets:
        i = arc_set.instance
        try:
            seal_field = arc_set.fields[SEAL]
            tags = field_tags(seal_field)
            seal = parse_signed_fields(seal_field, tags, _AS_TAGS)
            ams_field = arc_set.fields[MESSAGE_SIGNATURE]
            signature = parse_signed_fields(ams_field, field_tags(ams_field), _AMS_TAGS)
        except SignatureVerdict as verdict:
            raise _ChainBroken(f"ARC set i={i}: {verdict.reason}") from None
        if "h" in tags:  # RFC 8617 4.1.3: a seal has no h=
            raise _ChainBroken(f"ARC-Seal i={i} has h=")
        if SEAL in signature.signed:  # RFC 8617 4.1.2: the AMS never signs a seal
            raise _ChainBroken(f"ARC-Message-Signature i={i} signs ARC-Seal")
        seals.append(seal)
        signatures.append(signature)
    cvs = [s.tags["cv"].lower() for s in seals]
    if cvs[-1] == "fail":
        raise _ChainBroken(f"ARC-Seal i={len(cvs)} reports cv=fail")
    for i, cv in enumerate(cvs, start=1):
        if cv != ("none" if i == 1 else "pass"):
            raise _ChainBroken(f"ARC-Seal i={i} has cv={cv[:8]}")
    return seals, signatures


def _seal_problem(seal: SignedFields, sets: list[_ArcSet],
                  keys: dict[tuple[str, str], DkimKey | SignatureVerdict]) -> str:
    """Why ``seal`` does not verify, or "". It signs the sets 1..i, each as AAR, AMS, AS,
    with relaxed header canonicalization and its own b= empty (RFC 8617 5.1.1)."""
    own = int(seal.tags["i"])
    data: list[bytes] = []
    for arc_set in sets[:own]:
        for name in _SET_ORDER:
            f = arc_set.fields[name]
            if f is seal.field:
                data.append(unsigned_self(f, "relaxed"))
            else:
                data.append(canonical_field(f.raw, "relaxed"))
    try:
        check_signature(seal, keys[(seal.selector, seal.domain)], b"".join(data))
    except SignatureVerdict as verdict:
        return verdict.reason
    return ""
