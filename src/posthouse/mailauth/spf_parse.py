"""The SPF record parser (RFC 7208 4.5, 4.6, 12): record selection and terms as values.

Owns the record grammar only. A record that breaks it raises SpfSyntaxError, which the
evaluator turns into permerror (RFC 7208 4.6). No DNS, no evaluation here.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from posthouse.mailauth.spf_macros import MacroPiece, SpfMacroError, parse_macro_string

MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
# Mechanisms whose domain-spec is required, optional, or not allowed.
_NEEDS_DOMAIN = frozenset({"include", "exists"})
_MAY_HAVE_DOMAIN = frozenset({"a", "mx", "ptr"})
_QUALIFIERS = "+-?~"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9\-_.]*\Z")
# RFC 7208 12: ip4-cidr-length "/" ("0" / %x31-39 0*1DIGIT), ip6 up to three digits.
_DUAL_CIDR = re.compile(r"(?:/(0|[1-9][0-9]?))?(?://(0|[1-9][0-9]{0,2}))?\Z")
_TOPLABEL = re.compile(r"(?=[0-9]*[A-Za-z])[A-Za-z0-9]+\Z|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9]\Z")


class SpfSyntaxError(ValueError):
    """A record breaks the SPF grammar: the evaluation ends in permerror."""


@dataclass(frozen=True, slots=True)
class SpfTerm:
    """A directive: qualifier, mechanism name, domain-spec or network, CIDR lengths."""

    qualifier: str
    name: str
    domain_spec: tuple[MacroPiece, ...] | None = None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    cidr4: int = 32
    cidr6: int = 128
    text: str = ""


@dataclass(frozen=True, slots=True)
class SpfRecord:
    """A parsed record: its directives in order and the two known modifiers."""

    directives: tuple[SpfTerm, ...]
    redirect: tuple[MacroPiece, ...] | None = None
    explanation: tuple[MacroPiece, ...] | None = None


def is_spf_record(text: str) -> bool:
    """Whether a TXT string is an SPF record: "v=spf1" then a space or the end (4.5)."""
    return text[:6].lower() == "v=spf1" and (len(text) == 6 or text[6] == " ")


def parse_record(text: str) -> SpfRecord:
    """Parse one record; raise SpfSyntaxError on any grammar error."""
    if not is_spf_record(text):
        raise SpfSyntaxError("not an SPF record")
    directives: list[SpfTerm] = []
    redirect: tuple[MacroPiece, ...] | None = None
    explanation: tuple[MacroPiece, ...] | None = None
    seen: set[str] = set()
    for term in text[6:].split(" "):
        if not term:
            continue  # terms are separated by 1*SP; trailing spaces allowed
        try:
            modifier = _modifier(term)
            if modifier is None:
                directives.append(_directive(term))
                continue
        except SpfMacroError as exc:
            raise SpfSyntaxError(f"{term!r}: {exc}") from None
        name, value = modifier
        if name in ("redirect", "exp"):
            if name in seen:  # RFC 7208 6: each may appear at most once
                raise SpfSyntaxError(f"more than one {name}= modifier")
            seen.add(name)
            if name == "redirect":
                redirect = value
            else:
                explanation = value
    return SpfRecord(tuple(directives), redirect, explanation)


def _modifier(term: str) -> tuple[str, tuple[MacroPiece, ...]] | None:
    """(name, value) of a modifier term, or None when the term is a directive."""
    name, eq, value = term.partition("=")
    if not eq or not _NAME.match(name):
        return None
    lname = name.lower()
    if lname in ("redirect", "exp"):
        return lname, _domain_spec(value)
    parse_macro_string(value)  # an unknown modifier is ignored, but must parse (RFC 7208 6)
    return lname, ()


def _directive(term: str) -> SpfTerm:
    qualifier = "+"
    body = term
    if body[:1] in _QUALIFIERS:
        qualifier, body = body[0], body[1:]
    head = re.match(r"[A-Za-z0-9]+", body)
    name = head.group(0).lower() if head else ""
    if name not in MECHANISMS:
        raise SpfSyntaxError(f"unknown mechanism {term!r}")
    rest = body[len(name):]
    if name == "all":
        if rest:
            raise SpfSyntaxError(f"bad 'all' term {term!r}")
        return SpfTerm(qualifier, name, text=term)
    if name in ("ip4", "ip6"):
        return _ip_mechanism(qualifier, name, rest, term)
    cidr4, cidr6 = 32, 128
    if name in ("a", "mx"):
        cidr = _DUAL_CIDR.search(rest)
        assert cidr is not None  # the pattern matches the empty string at the end
        if cidr.group(0):
            rest = rest[:cidr.start()]
            cidr4 = int(cidr.group(1)) if cidr.group(1) else 32
            cidr6 = int(cidr.group(2)) if cidr.group(2) else 128
            if cidr4 > 32 or cidr6 > 128:
                raise SpfSyntaxError(f"CIDR length out of range in {term!r}")
    spec: tuple[MacroPiece, ...] | None = None
    if rest.startswith(":"):
        spec = _domain_spec(rest[1:])
    elif rest or name in _NEEDS_DOMAIN:
        raise SpfSyntaxError(f"bad {name!r} term {term!r}")
    assert name in _MAY_HAVE_DOMAIN or spec is not None
    return SpfTerm(qualifier, name, spec, cidr4=cidr4, cidr6=cidr6, text=term)


def _ip_mechanism(qualifier: str, name: str, rest: str, term: str) -> SpfTerm:
    if not rest.startswith(":"):
        raise SpfSyntaxError(f"{name} needs an address: {term!r}")
    addr, slash, length = rest[1:].partition("/")
    limit = 32 if name == "ip4" else 128
    if slash and not re.fullmatch(r"0|[1-9][0-9]{0,2}", length):
        raise SpfSyntaxError(f"bad CIDR length in {term!r}")
    prefix = int(length) if slash else limit
    if prefix > limit or "%" in addr:
        raise SpfSyntaxError(f"bad network in {term!r}")
    try:
        ip = ipaddress.IPv4Address(addr) if name == "ip4" else ipaddress.IPv6Address(addr)
    except ValueError:
        raise SpfSyntaxError(f"bad address in {term!r}") from None
    # Host bits beyond the prefix are allowed and ignored (RFC 7208 5.6 compares prefixes).
    network = ipaddress.ip_network((ip, prefix), strict=False)
    return SpfTerm(qualifier, name, network=network, text=term)


def _domain_spec(text: str) -> tuple[MacroPiece, ...]:
    """A domain-spec: a macro-string whose end is a top label or a macro (RFC 7208 7.1)."""
    pieces = parse_macro_string(text)
    if not pieces:
        raise SpfMacroError("empty domain-spec")
    last = pieces[-1]
    if isinstance(last, str):
        tail = last[:-1] if last.endswith(".") else last
        label = tail.rsplit(".", 1)
        # domain-end = ( "." toplabel [ "." ] ) / macro-expand
        if len(label) < 2 or not _TOPLABEL.match(label[1]):
            raise SpfMacroError(f"domain-spec {text!r} does not end in a top label")
    return pieces
