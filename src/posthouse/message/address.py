"""RFC 5322 address lists as IMAP address structures ``(name, adl, mailbox, host)``.

RFC 9051 7.5.2: the name is the display-name phrase after removing quoting (encoded-words
are NOT decoded), adl the obsolete source route, mailbox the local-part after removing
quoting, host the domain. Group syntax becomes a start marker ``(NIL NIL group-name NIL)``
and an end marker ``(NIL NIL NIL NIL)``.

Decisions for malformed input (the parser never raises):
- without a display name, a comment gives the name (``jd@example.com (John Doe)``);
- a missing domain is "" and a missing local part is "" (never NIL: a NIL host would read
  as a group marker);
- bare words without "@" or angle brackets are a name with empty mailbox and host when
  there are several words, a mailbox without host when there is one;
- an unclosed group is closed at the end; empty list members are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

AddressParts = tuple[str | None, str | None, str | None, str | None]

_SPECIALS = "<>:;@,."
_SPACE = " \t\r\n"

# The usual single address, "local@domain", "<local@domain>" or "Some Name <local@domain>"
# with dot-atoms and plain words only, in one regular expression. Anything else (quoting,
# comments, groups, lists, routes, odd dots) goes through the tokenizer below.
# ATOM: RFC 5322 3.2.3 atom without its CFWS, 1*atext; RFC 5321 4.1.2 Atom is the same.
ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = rf"({ATOM}(?:\.{ATOM})*)@({ATOM}(?:\.{ATOM})*)"
_SIMPLE_ADDRESS = re.compile(rf"((?:{ATOM}[ \t]+)*)<{_ADDR_SPEC}>|{_ADDR_SPEC}")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "atom", "quoted", "literal", "special", "comment"
    text: str
    space_before: bool


def _read_delimited(text: str, pos: int, close: str, nests: bool) -> tuple[str, int]:
    """Content of a quoted-string or comment starting after its opener; escapes removed."""
    out: list[str] = []
    depth = 1
    while pos < len(text):
        ch = text[pos]
        pos += 1
        if ch == "\\" and pos < len(text):
            out.append(text[pos])
            pos += 1
            continue
        if nests and ch == "(":
            depth += 1
        elif ch == close:
            depth -= 1
            if depth == 0:
                break
        out.append(ch)
    return "".join(out), pos


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    space = False
    while pos < len(text):
        ch = text[pos]
        if ch in _SPACE or ch == ")":
            space, pos = True, pos + 1
        elif ch == "(":
            content, pos = _read_delimited(text, pos + 1, ")", True)
            tokens.append(_Token("comment", content, space))
            space = True
        elif ch == '"':
            content, pos = _read_delimited(text, pos + 1, '"', False)
            tokens.append(_Token("quoted", content, space))
            space = False
        elif ch == "[":
            close = text.find("]", pos)
            end = len(text) if close < 0 else close + 1
            tokens.append(_Token("literal", text[pos:end], space))
            space, pos = False, end
        elif ch in _SPECIALS:
            tokens.append(_Token("special", ch, space))
            space, pos = False, pos + 1
        else:
            end = pos
            while end < len(text) and text[end] not in _SPECIALS + _SPACE + '()"[':
                end += 1
            tokens.append(_Token("atom", text[pos:end], space))
            space, pos = False, end
    return tokens


def _phrase(tokens: list[_Token]) -> str | None:
    """Words joined by single spaces where the source had whitespace; quoting removed."""
    out = ""
    for token in tokens:
        if token.kind == "comment":
            continue
        if out and token.space_before:
            out += " "
        out += token.text
    return out or None


def _tight(tokens: list[_Token]) -> str:
    """Tokens concatenated without whitespace (local-part, domain, route)."""
    return "".join(t.text for t in tokens if t.kind != "comment")


def _addr_spec(tokens: list[_Token]) -> tuple[str, str]:
    """(mailbox, host) of ``local-part "@" domain``; the last "@" separates them."""
    at = max((i for i, t in enumerate(tokens) if t.kind == "special" and t.text == "@"), default=-1)
    if at < 0:
        return _tight(tokens), ""
    return _tight(tokens[:at]), _tight(tokens[at + 1 :])


@dataclass(slots=True)
class _State:
    out: list[AddressParts] = field(default_factory=list)
    words: list[_Token] = field(default_factory=list)
    angle: list[_Token] | None = None
    angle_closed: bool = False
    in_group: bool = False

    def flush(self) -> None:
        comments = [t.text.strip(_SPACE) for t in self.words if t.kind == "comment"]
        comment = next((c for c in comments if c), None)
        words = [t for t in self.words if t.kind != "comment"]
        if self.angle is not None:
            self.out.append(_angle_address(_phrase(words) or comment, self.angle))
        elif words:
            self.out.append(_bare_address(words, comment))
        self.words, self.angle, self.angle_closed = [], None, False

    def start_group(self) -> None:
        name = _phrase(self.words) or ""
        self.words = []
        self.in_group = True
        self.out.append((None, None, name, None))

    def end_group(self) -> None:
        self.flush()
        if self.in_group:
            self.out.append((None, None, None, None))
            self.in_group = False


def _angle_address(name: str | None, inner: list[_Token]) -> AddressParts:
    colons = [i for i, t in enumerate(inner) if t.kind == "special" and t.text == ":"]
    route = None
    if colons:
        route = _tight(inner[: colons[-1]]) or None  # RFC 5322 4.4 obs-route
        inner = inner[colons[-1] + 1 :]
    mailbox, host = _addr_spec(inner)
    return (name, route, mailbox, host)


def _bare_address(words: list[_Token], comment: str | None) -> AddressParts:
    has_at = any(t.kind == "special" and t.text == "@" for t in words)
    if not has_at and any(t.space_before for t in words[1:]):
        return (_phrase(words), None, "", "")
    mailbox, host = _addr_spec(words)
    return (comment, None, mailbox, host)


def _feed(state: _State, token: _Token) -> None:
    special = token.text if token.kind == "special" else ""
    if state.angle is not None and not state.angle_closed:
        if special == ">":
            state.angle_closed = True
        elif token.kind != "comment":
            state.angle.append(token)
    elif special == "<":
        state.angle, state.angle_closed = [], False
    elif special == ",":
        state.flush()
    elif special == ":" and not state.in_group and state.angle is None:
        state.start_group()
    elif special == ";":
        state.end_group()
    else:
        state.words.append(token)


def _simple_address(text: str) -> AddressParts | None:
    """What parse_addresses gives for a text _SIMPLE_ADDRESS matches; None otherwise."""
    m = _SIMPLE_ADDRESS.fullmatch(text)
    if m is None:
        return None
    if m.group(2) is None:  # a bare addr-spec
        return (None, None, m.group(4), m.group(5))
    name = " ".join(m.group(1).split())
    return (name or None, None, m.group(2), m.group(3))


def parse_addresses(text: str) -> list[AddressParts]:
    """Parse an address-list header value (unfolded text) into IMAP address structures."""
    simple = _simple_address(text)
    if simple is not None:
        return [simple]
    state = _State()
    for token in _tokens(text):
        _feed(state, token)
    state.end_group()
    return state.out


def split_address(address: str) -> tuple[str, str]:
    """An envelope address "local@domain" as (local part, domain), both exactly as given.

    It splits at the last "@": a quoted local part may contain "@", a domain never does. As
    with str.rpartition, text without "@" gives ("", text), so a non-empty local part means
    there was an "@". Domains compare case-insensitively; lower-casing is the caller's
    choice (local parts are case-sensitive in principle, RFC 5321 2.4).
    """
    local, _, domain = address.rpartition("@")
    return local, domain


def domain_of(address: str) -> str:
    """The domain of ``address``, lower-cased: what follows the last "@" (``split_address``)."""
    return split_address(address)[1].lower()
