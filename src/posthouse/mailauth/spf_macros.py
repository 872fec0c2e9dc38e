"""SPF macro strings (RFC 7208 7): parsing them into pieces and expanding them.

Owns the macro grammar, the transformers and URL escaping. Pure: no DNS, no clock. The %{p}
value, which needs lookups, is found by the evaluator and handed in with the other values.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import quote

# RFC 7208 7.1: c, r and t are allowed only in an explanation string.
DOMAIN_LETTERS = frozenset("slodiphv")
EXP_LETTERS = DOMAIN_LETTERS | frozenset("crt")
_DELIMITERS = frozenset(".-+,/_=")
_LITERALS = {"%": "%", "_": " ", "-": "%20"}
MAX_DOMAIN = 253


class SpfMacroError(ValueError):
    """A macro string does not follow RFC 7208 7.1 (a permerror where it is evaluated)."""


@dataclass(frozen=True, slots=True)
class MacroExpand:
    """One %{...}: the letter (lower-case), digits (0: all), reversal, delimiters, escaping."""

    letter: str
    digits: int
    reverse: bool
    delimiters: str
    escape: bool


MacroPiece = str | MacroExpand


@dataclass(frozen=True, slots=True)
class MacroValues:
    """The values the letters stand for in one check_host() call (RFC 7208 7.2)."""

    sender: str
    domain: str
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    helo: str
    ptr_name: str = "unknown"
    receiver: str = "unknown"
    timestamp: int = 0

    @property
    def local_part(self) -> str:
        """The sender's local-part (RFC 7208 4.3: "postmaster" when it has none)."""
        local, at, _ = self.sender.rpartition("@")
        return local if at and local else "postmaster"

    @property
    def sender_domain(self) -> str:
        """The domain of the sender."""
        return self.sender.rpartition("@")[2]


def parse_macro_string(text: str, *, explanation: bool = False) -> tuple[MacroPiece, ...]:
    """Split a macro-string into literal text and macro expansions; raise SpfMacroError."""
    letters = EXP_LETTERS if explanation else DOMAIN_LETTERS
    pieces: list[MacroPiece] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "%":
            # macro-literal is %x21-24 / %x26-7E; an explanation may also hold spaces (7.1).
            if not ("!" <= ch <= "~" or (explanation and ch == " ")):
                raise SpfMacroError(f"character {ch!r} not allowed in a macro string")
            literal.append(ch)
            i += 1
            continue
        nxt = text[i + 1:i + 2]
        if nxt in _LITERALS:
            literal.append(_LITERALS[nxt])
            i += 2
            continue
        if nxt != "{":
            raise SpfMacroError(f"'%' must be followed by '{{', '%', '_' or '-' in {text!r}")
        end = text.find("}", i)
        if end < 0:
            raise SpfMacroError(f"unterminated macro in {text!r}")
        if literal:
            pieces.append("".join(literal))
            literal.clear()
        pieces.append(_parse_expand(text[i + 2:end], letters))
        i = end + 1
    if literal:
        pieces.append("".join(literal))
    return tuple(pieces)


def _parse_expand(body: str, letters: frozenset[str]) -> MacroExpand:
    if not body or body[0].lower() not in letters:
        raise SpfMacroError(f"unknown macro letter in %{{{body}}}")
    letter, rest = body[0], body[1:]
    j = 0
    while j < len(rest) and rest[j].isdigit():
        j += 1
    digits = int(rest[:j]) if j else 0
    if j and digits == 0:
        raise SpfMacroError("a macro's digit transformer must be nonzero")  # RFC 7208 7.1
    rest = rest[j:]
    reverse = rest[:1].lower() == "r"
    if reverse:
        rest = rest[1:]
    if any(c not in _DELIMITERS for c in rest):
        raise SpfMacroError(f"bad delimiter in %{{{body}}}")
    return MacroExpand(letter.lower(), digits, reverse, rest, letter.isupper())


def expand(pieces: tuple[MacroPiece, ...], values: MacroValues, *, domain: bool = True) -> str:
    """The expanded string; a domain name is cut to 253 octets from the left (RFC 7208 7.3)."""
    out = "".join(p if isinstance(p, str) else _expand_one(p, values) for p in pieces)
    if domain:
        out = truncate_domain(out)
    return out


def truncate_domain(name: str) -> str:
    """Drop labels from the left until the name fits in 253 octets."""
    while len(name.rstrip(".")) > MAX_DOMAIN and "." in name:
        name = name.split(".", 1)[1]
    return name


def _expand_one(m: MacroExpand, values: MacroValues) -> str:
    raw = _letter_value(m.letter, values)
    delims = m.delimiters or "."
    parts = [raw]
    for d in delims:
        parts = [piece for part in parts for piece in part.split(d)]
    if m.reverse:
        parts.reverse()
    if m.digits:
        parts = parts[-m.digits:]
    value = ".".join(parts)
    # RFC 7208 7.3: upper-case letters are URL-escaped (RFC 3986 unreserved kept).
    return quote(value, safe="-._~") if m.escape else value


def _letter_value(letter: str, v: MacroValues) -> str:
    if letter == "s":
        return v.sender
    if letter == "l":
        return v.local_part
    if letter == "o":
        return v.sender_domain
    if letter == "d":
        return v.domain
    if letter == "i":
        return ip_macro(v.ip)
    if letter == "p":
        return v.ptr_name
    if letter == "v":
        return "in-addr" if v.ip.version == 4 else "ip6"
    if letter == "h":
        return v.helo
    if letter == "c":
        return str(v.ip)  # RFC 7208 7.2: the readable form, e.g. 2001:db8::cb01
    if letter == "r":
        return v.receiver
    return str(v.timestamp)  # "t"


def ip_macro(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """%{i}: dotted quad, or for IPv6 the 32 nibbles separated by dots (RFC 7208 7.3)."""
    if ip.version == 4:
        return str(ip)
    return ".".join(ip.exploded.replace(":", ""))
