"""The grammar primitives every command parser is built from (RFC 9051 section 9).

A ``Cursor`` walks the argument segments of a RawCommand: text with literals in place. Every
method consumes exactly the production it is named after or raises ParseError; nothing
splits untrusted input on whitespace.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import TypeVar

from posthouse.imap import utf7
from posthouse.imap.events import LiteralArg, Segment
from posthouse.imap.replies import ParseError, ResponseCode
from posthouse.imap.responses import Status
from posthouse.imap.sequence import SequenceSet, SequenceSyntaxError
from posthouse.store.models import INBOX, RECENT, canonical_flag

T = TypeVar("T")

# atom-specials: "(" ")" "{" SP CTL list-wildcards quoted-specials resp-specials
ATOM_CHARS = frozenset(range(0x21, 0x7F)) - frozenset(b'(){%*"\\]')
ASTRING_CHARS = ATOM_CHARS | {0x5D}
LIST_CHARS = ATOM_CHARS | frozenset(b"%*]")
DIGITS = frozenset(b"0123456789")
SEQUENCE_CHARS = frozenset(b"0123456789:*,$")
MONTHS = {m: i + 1 for i, m in enumerate(
    (b"JAN", b"FEB", b"MAR", b"APR", b"MAY", b"JUN",
     b"JUL", b"AUG", b"SEP", b"OCT", b"NOV", b"DEC"))}
_DATE = re.compile(rb"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")
_DATE_TIME = re.compile(
    rb"( [0-9]|[0-9]{1,2})-([A-Za-z]{3})-([0-9]{4}) "
    rb"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"
)
MAX_NUMBER64 = (1 << 63) - 1


def decode_mailbox(raw: bytes, *, utf8: bool) -> str:
    """A mailbox name from the wire: UTF-8 if UTF8=ACCEPT/IMAP4rev2 is on, else modified
    UTF-7 (RFC 3501 5.1.3, strict). ``INBOX`` in any case is ``INBOX``."""
    if utf8:
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("Mailbox name is not UTF-8") from None
    else:
        try:
            name = utf7.decode(raw)
        except utf7.Utf7Error:
            raise ParseError(
                "Mailbox name is not valid modified UTF-7",
                status=Status.NO, code=ResponseCode.CANNOT.code(),
            ) from None
    return INBOX if name.upper() == INBOX else name


def decode_text(raw: bytes, what: str = "string") -> str:
    """A string argument as text: UTF-8 (US-ASCII is a subset), else BAD."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError(f"Invalid UTF-8 in {what}") from None


class Cursor:
    """A position in a command's arguments."""

    def __init__(self, args: Sequence[Segment], *, utf8: bool = False) -> None:
        texts: list[bytes] = [b""]
        literals: list[LiteralArg] = []
        for seg in args:
            if isinstance(seg, LiteralArg):
                literals.append(seg)
                texts.append(b"")
            else:
                texts[-1] += seg
        self._texts = texts
        self._literals = literals
        self._i = 0
        self._text = texts[0]
        self._pos = 0
        self.utf8 = utf8

    # -- position -------------------------------------------------------------------------

    def peek(self) -> int | None:
        """The next octet of text, or None at a literal or at the end."""
        return self._text[self._pos] if self._pos < len(self._text) else None

    def at_literal(self) -> bool:
        """Whether a literal comes next."""
        return self._pos == len(self._text) and self._i < len(self._literals)

    def at_end(self) -> bool:
        """Whether every argument has been consumed."""
        return self._pos == len(self._text) and self._i >= len(self._literals)

    def end(self) -> None:
        """Require the end of the command."""
        if not self.at_end():
            raise ParseError("Unexpected extra arguments")

    def accept(self, token: bytes) -> bool:
        """Consume ``token`` (case-insensitive for letters) if it comes next."""
        got = self._text[self._pos : self._pos + len(token)]
        if got.upper() != token.upper():
            return False
        self._pos += len(token)
        return True

    def expect(self, token: bytes, what: str | None = None) -> None:
        """Consume ``token`` or fail."""
        if not self.accept(token):
            raise ParseError(f"Expected {what or token.decode()!s}")

    def sp(self) -> None:
        """One space."""
        self.expect(b" ", "space")

    def peek_run(self, chars: frozenset[int]) -> bytes:
        """The longest run of octets from ``chars`` that comes next, not consumed."""
        text = self._text
        end = self._pos
        while end < len(text) and text[end] in chars:
            end += 1
        return text[self._pos : end]

    def take_while(self, chars: frozenset[int]) -> bytes:
        """The longest run of octets from ``chars`` (may be empty), consumed."""
        run = self.peek_run(chars)
        self._pos += len(run)
        return run

    # -- strings ---------------------------------------------------------------------------

    def atom(self, what: str = "atom") -> str:
        """1*ATOM-CHAR, as text."""
        raw = self.take_while(ATOM_CHARS)
        if not raw:
            raise ParseError(f"Expected {what}")
        return raw.decode("ascii")

    def keyword(self) -> str:
        """An atom, upper-cased (command keywords are case-insensitive)."""
        return self.atom("keyword").upper()

    def literal(self) -> LiteralArg:
        """The literal that comes next."""
        if not self.at_literal():
            raise ParseError("Expected a literal")
        lit = self._literals[self._i]
        self._i += 1
        self._text = self._texts[self._i]
        self._pos = 0
        return lit

    def quoted(self, *, any_octets: bool = False) -> bytes:
        """A quoted string; ``\\`` escapes only ``"`` and ``\\``; 8-bit only as UTF-8
        unless ``any_octets`` (the caller judges the charset, as SEARCH does)."""
        self.expect(b'"', "quoted string")
        out = bytearray()
        text = self._text
        i = self._pos
        while i < len(text):
            byte = text[i]
            if byte == 0x22:
                self._pos = i + 1
                if not any_octets and not out.isascii():
                    decode_text(bytes(out), "quoted string")
                return bytes(out)
            if byte == 0x5C:
                i += 1
                if i >= len(text) or text[i] not in (0x22, 0x5C):
                    raise ParseError("Invalid escape in quoted string")
                byte = text[i]
            elif byte == 0:
                raise ParseError("NUL in quoted string")
            out.append(byte)
            i += 1
        raise ParseError("Unterminated quoted string")

    def string(self, *, any_octets: bool = False) -> bytes:
        """A quoted string or a literal."""
        if self.at_literal():
            return self.literal().data
        if self.peek() == 0x22:
            return self.quoted(any_octets=any_octets)
        raise ParseError("Expected a string")

    def astring(self, *, any_octets: bool = False) -> bytes:
        """1*ASTRING-CHAR or a string."""
        if self.at_literal() or self.peek() == 0x22:
            return self.string(any_octets=any_octets)
        raw = self.take_while(ASTRING_CHARS)
        if not raw:
            raise ParseError("Expected a string or atom")
        return raw

    def nstring(self) -> bytes | None:
        """NIL or a string."""
        if self.accept(b"NIL"):
            return None
        return self.string()

    def mailbox(self) -> str:
        """A mailbox name (decoded; see decode_mailbox)."""
        return decode_mailbox(self.astring(), utf8=self.utf8)

    def list_mailbox(self) -> str | None:
        """A LIST pattern: 1*list-char or a string (decoded like a mailbox name); None when
        it does not decode, as no name can match it (issue 14: OK with no results)."""
        if self.at_literal() or self.peek() == 0x22:
            raw = self.string()
        else:
            raw = self.take_while(LIST_CHARS)
            if not raw:
                raise ParseError("Expected a mailbox pattern")
        try:
            return decode_mailbox(raw, utf8=self.utf8)
        except ParseError:
            return None

    # -- numbers, lists, flags, dates, sets ----------------------------------------------

    def number(self, *, nonzero: bool = False, limit: int = 0xFFFFFFFF) -> int:
        """A decimal number up to ``limit`` (32-bit unless a number64 is asked for)."""
        raw = self.take_while(DIGITS)
        if not raw or len(raw) > 19:
            raise ParseError("Expected a number")
        value = int(raw)
        if value > limit or (nonzero and value == 0):
            raise ParseError("Number out of range")
        return value

    def modseq_modifier(self, keyword: str, command: str) -> int:
        """``"(" keyword SP mod-sequence-value ")"``: the CONDSTORE modifier of FETCH
        (CHANGEDSINCE, RFC 7162 3.1.4.1) or STORE (UNCHANGEDSINCE, RFC 7162 3.1.3)."""
        self.expect(b"(")
        if self.keyword() != keyword:
            raise ParseError(f"Unsupported {command} modifier")
        self.sp()
        value = self.number(limit=MAX_NUMBER64)
        self.expect(b")")
        return value

    def paren_list(self, item: Callable[[], T], *, allow_empty: bool = True) -> list[T]:
        """``"(" [item *(SP item)] ")"``."""
        self.expect(b"(")
        items: list[T] = []
        if not self.accept(b")"):
            items.append(item())
            while not self.accept(b")"):
                self.sp()
                items.append(item())
        if not items and not allow_empty:
            raise ParseError("Empty list")
        return items

    def flag(self) -> str:
        """A flag: ``\\`` atom (system flags in canonical case) or a keyword atom."""
        if self.accept(b"\\"):
            name = "\\" + self.atom("flag")
            return canonical_flag(name)
        return self.atom("flag")

    def store_flag(self) -> str:
        """A flag a client may set: not ``\\Recent`` (RFC 9051 2.3.2)."""
        flag = self.flag()
        if flag == RECENT:
            raise ParseError("\\Recent cannot be stored")
        return flag

    def sequence_set(self) -> SequenceSet:
        """A sequence set or ``$``."""
        raw = self.take_while(SEQUENCE_CHARS)
        try:
            return SequenceSet.parse(raw)
        except SequenceSyntaxError as exc:
            raise ParseError(f"Invalid sequence set: {exc}") from None

    def date(self) -> date:
        """A search date: ``d-Mon-yyyy``, optionally quoted."""
        raw = self.quoted() if self.peek() == 0x22 else self.take_while(ATOM_CHARS)
        match = _DATE.fullmatch(raw)
        if match is None:
            raise ParseError("Invalid date")
        try:
            return date(int(match[3]), _month(match[2]), int(match[1]))
        except ValueError:
            raise ParseError("Invalid date") from None

    def date_time(self) -> datetime:
        """An APPEND date-time: ``"dd-Mon-yyyy hh:mm:ss +zzzz"`` (RFC 9051 9)."""
        match = _DATE_TIME.fullmatch(self.quoted())
        if match is None:
            raise ParseError("Invalid date-time")
        day, mon, year, hh, mm, ss, sign, zh, zm = match.groups()
        offset = timedelta(hours=int(zh), minutes=int(zm))
        if offset >= timedelta(hours=24) or int(zm) >= 60:
            raise ParseError("Invalid time zone")
        try:
            return datetime(
                int(year), _month(mon), int(day), int(hh), int(mm), int(ss),
                tzinfo=timezone(-offset if sign == b"-" else offset),
            )
        except ValueError:
            raise ParseError("Invalid date-time") from None


def _month(raw: bytes) -> int:
    month = MONTHS.get(raw.upper())
    if month is None:
        raise ParseError("Invalid month")
    return month
