"""RFC 5321 4.1.2 paths and mailboxes, with the RFC 6531 (SMTPUTF8) extensions.

The parser is a hand-written cursor over an already decoded ``str``. It accepts UTF-8 in the
local part and in domain labels lexically (RFC 6531 3.3); whether that is allowed for a given
command is the caller's decision (``Address.is_ascii``). U-labels are not checked against IDNA.
Length limits (RFC 5321 4.5.3.1) are counted in UTF-8 octets.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import string
from collections.abc import Callable
from dataclasses import dataclass

from posthouse.message.address import ATOM

MAX_LOCAL = 64  # RFC 5321 4.5.3.1.1
MAX_DOMAIN = 255  # RFC 5321 4.5.3.1.2
MAX_PATH = 256  # RFC 5321 4.5.3.1.3, including "<" and ">"
MAX_LABEL = 63  # RFC 1035 2.3.4

_ALNUM = frozenset(string.ascii_letters + string.digits)
# RFC 5322 3.2.3 atext (RFC 5321 uses it for Atom).
_ATEXT = _ALNUM | frozenset("!#$%&'*+-/=?^_`{|}~")

# The usual path, <ASCII Dot-string@domain name>, in one regular expression (labels of at
# most 63 octets). Whatever it does not match (quoted local parts, address literals, source
# routes, UTF-8, "<>", "<Postmaster>", errors) goes through the full parser.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_SIMPLE_PATH = re.compile(rf"<({ATOM}(?:\.{ATOM})*)@({_LABEL}(?:\.{_LABEL})*)>")
# RFC 5321 4.1.1.1 ehlo-keyword and 4.1.2 esmtp-keyword: (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
ESMTP_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")


class AddressProblem(enum.Enum):
    """Why an address was refused."""

    SYNTAX = "syntax"
    TOO_LONG = "too long"


class AddressError(ValueError):
    """A path or mailbox does not match the grammar or exceeds a length limit."""

    def __init__(self, problem: AddressProblem, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem


@dataclass(frozen=True)
class Address:
    """A mailbox: ``local`` is unquoted (``"a b"@x`` has local ``a b``); ``domain`` is a name
    or an address literal like ``[192.0.2.1]``. ``domain`` is "" only for the special
    recipient ``<Postmaster>`` (RFC 5321 4.1.1.3)."""

    local: str
    domain: str

    @property
    def text(self) -> str:
        """The address as it would be written in a path, quoting the local part if needed."""
        local = quote_local(self.local)
        return f"{local}@{self.domain}" if self.domain else local

    @property
    def is_ascii(self) -> bool:
        """False when SMTPUTF8 is needed to carry this address."""
        return self.local.isascii() and self.domain.isascii()

    def __str__(self) -> str:
        return self.text


def is_dot_string(local: str) -> bool:
    """True if ``local`` is an RFC 5321 Dot-string (UTF-8 atext allowed)."""
    if not local:
        return False
    return all(atom and all(_is_atext(c) for c in atom) for atom in local.split("."))


def quote_local(local: str) -> str:
    """``local`` as a Dot-string when possible, else as a Quoted-string (RFC 5321 4.1.2)."""
    if is_dot_string(local):
        return local
    escaped = local.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _is_atext(c: str) -> bool:
    return c in _ATEXT or ord(c) > 127


def _is_qtext(c: str) -> bool:
    """RFC 5321 qtextSMTP plus UTF8-non-ascii (RFC 6531)."""
    o = ord(c)
    return (32 <= o <= 126 and c not in '"\\') or o > 127


def _octets(s: str) -> int:
    return len(s.encode("utf-8", "surrogatepass"))


def _syntax(detail: str) -> AddressError:
    return AddressError(AddressProblem.SYNTAX, detail)


class _Cursor:
    """A position in a string with small helpers; every step advances or fails."""

    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise _syntax(f"expected {ch!r} at {self.pos}")
        self.pos += 1

    def take_while(self, pred: Callable[[str], bool]) -> str:
        start = self.pos
        while self.pos < len(self.text) and pred(self.text[self.pos]):
            self.pos += 1
        return self.text[start : self.pos]


def _domain_char(c: str) -> bool:
    return c in _ALNUM or c in "-." or ord(c) > 127


def check_domain(domain: str) -> None:
    """Raise AddressError unless ``domain`` is an RFC 5321 Domain (U-labels allowed)."""
    if _octets(domain) > MAX_DOMAIN:
        raise AddressError(AddressProblem.TOO_LONG, "domain longer than 255 octets")
    if not domain:
        raise _syntax("empty domain")
    for label in domain.split("."):
        if not label or label[0] == "-" or label[-1] == "-":
            raise _syntax(f"bad domain label {label!r}")
        if not all(_domain_char(c) for c in label):
            raise _syntax(f"bad character in domain label {label!r}")
        if _octets(label) > MAX_LABEL:
            raise AddressError(AddressProblem.TOO_LONG, "domain label longer than 63 octets")


def _check_ipv4(text: str) -> bool:
    """RFC 5321 IPv4-address-literal: four Snum of 1-3 digits, each 0-255."""
    parts = text.split(".", 4)
    return len(parts) == 4 and all(
        p.isascii() and p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts
    )


def _check_ipv6(text: str) -> bool:
    """RFC 5321 IPv6-addr (the embedded-IPv4 forms included; no zone identifiers)."""
    if not text or not all(c in string.hexdigits or c in ":." for c in text):
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def check_address_literal(literal: str) -> None:
    """Raise AddressError unless ``literal`` ("[...]") is an IPv4 or IPv6 address literal.

    General-address-literals (RFC 5321 4.1.3) need an IANA-registered tag; none but IPv6
    exists, so any other tag is refused.
    """
    if len(literal) < 3 or literal[0] != "[" or literal[-1] != "]":
        raise _syntax("bad address literal")
    inner = literal[1:-1]
    if inner[:5].lower() == "ipv6:":
        if _check_ipv6(inner[5:]):
            return
    elif _check_ipv4(inner):
        return
    raise _syntax(f"unsupported address literal {literal!r}")


def is_domain_or_literal(text: str) -> bool:
    """True for a Domain or an address literal (what EHLO should carry)."""
    try:
        if text.startswith("["):
            check_address_literal(text)
        else:
            check_domain(text)
    except AddressError:
        return False
    return True


def _parse_local(cur: _Cursor) -> str:
    """Local-part = Dot-string / Quoted-string; returns the unquoted value."""
    if cur.peek() == '"':
        cur.pos += 1
        out: list[str] = []
        while True:
            c = cur.peek()
            if c == '"':
                cur.pos += 1
                return "".join(out)
            if c == "\\":
                nxt = cur.text[cur.pos + 1 : cur.pos + 2]
                if not nxt or not 32 <= ord(nxt) <= 126:
                    raise _syntax("bad quoted-pair")
                out.append(nxt)
                cur.pos += 2
            elif c and _is_qtext(c):
                out.append(c)
                cur.pos += 1
            else:
                raise _syntax("unterminated quoted-string")
    local = cur.take_while(lambda c: _is_atext(c) or c == ".")
    if not is_dot_string(local):
        raise _syntax(f"bad local part {local!r}")
    return local


def _parse_domain_part(cur: _Cursor) -> str:
    """Domain / address-literal."""
    if cur.peek() == "[":
        end = cur.text.find("]", cur.pos)
        if end < 0:
            raise _syntax("unterminated address literal")
        literal = cur.text[cur.pos : end + 1]
        check_address_literal(literal)
        cur.pos = end + 1
        return literal
    domain = cur.take_while(_domain_char)
    check_domain(domain)
    return domain


def _skip_source_route(cur: _Cursor) -> None:
    """A-d-l ":" is parsed and ignored (RFC 5321 4.1.2 and appendix C)."""
    if cur.peek() != "@":
        return
    while True:
        cur.expect("@")
        check_domain(cur.take_while(_domain_char))
        if cur.peek() != ",":
            break
        cur.pos += 1
    cur.expect(":")


def _parse_mailbox(cur: _Cursor) -> Address:
    """Mailbox = Local-part "@" ( Domain / address-literal ), with length limits."""
    start = cur.pos
    local = _parse_local(cur)
    if _octets(cur.text[start : cur.pos]) > MAX_LOCAL:
        raise AddressError(AddressProblem.TOO_LONG, "local part longer than 64 octets")
    cur.expect("@")
    return Address(local, _parse_domain_part(cur))


def parse_path(text: str, pos: int = 0, *, null_ok: bool = False,
               postmaster_ok: bool = False) -> tuple[Address | None, int]:
    """Parse a Path ("<...>") starting at ``pos``; return (address, end position).

    ``null_ok``: the reverse-path "<>" is allowed and gives None. ``postmaster_ok``: the bare
    "<Postmaster>" recipient (any case) is allowed and gives Address("Postmaster", "").
    """
    simple = _simple_path(text, pos)
    if simple is not None:
        return simple
    cur = _Cursor(text, pos)
    cur.expect("<")
    if cur.peek() == ">":
        if not null_ok:
            raise _syntax("null path not allowed here")
        return None, cur.pos + 1
    if postmaster_ok and text[cur.pos : cur.pos + 11].lower() == "postmaster>":
        return Address(text[cur.pos : cur.pos + 10], ""), cur.pos + 11
    _skip_source_route(cur)
    address = _parse_mailbox(cur)
    cur.expect(">")
    if _octets(text[pos : cur.pos]) > MAX_PATH:
        raise AddressError(AddressProblem.TOO_LONG, "path longer than 256 octets")
    return address, cur.pos


def _simple_path(text: str, pos: int) -> tuple[Address, int] | None:
    """What parse_path returns for a path _SIMPLE_PATH matches within the length limits;
    None for any other path."""
    m = _SIMPLE_PATH.match(text, pos)
    if m is None:
        return None
    local, domain = m.group(1, 2)
    if len(local) > MAX_LOCAL or len(domain) > MAX_DOMAIN or m.end() - pos > MAX_PATH:
        return None
    return Address(local, domain), m.end()


def parse_address(text: str, *, utf8: bool = True) -> Address:
    """Parse a whole string as a Mailbox (no angle brackets), e.g. for configuration."""
    cur = _Cursor(text, 0)
    address = _parse_mailbox(cur)
    if cur.pos != len(text):
        raise _syntax("trailing characters after address")
    if not utf8 and not address.is_ascii:
        raise _syntax("non-ASCII address")
    return address
