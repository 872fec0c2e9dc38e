"""APPEND (RFC 9051 6.3.12) with MULTIAPPEND (RFC 3502), BINARY literal8 (RFC 3516 4.4) and
``UTF8 (~{n})`` (RFC 6855 4)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from posthouse.imap import commands as c
from posthouse.imap.parser.cursor import Cursor
from posthouse.imap.replies import ParseError


def _message(cur: Cursor) -> c.AppendMessage:
    """``[SP flag-list] [SP date-time] SP append-data``."""
    cur.sp()
    flags: frozenset[str] = frozenset()
    internaldate: datetime | None = None
    if cur.peek() == 0x28:  # "("
        flags = frozenset(cur.paren_list(cur.store_flag))
        cur.sp()
    if cur.peek() == 0x22:  # '"'
        internaldate = cur.date_time()
        cur.sp()
    utf8 = False
    if cur.accept(b"UTF8"):
        cur.sp()
        cur.expect(b"(")
        utf8 = True
    if not cur.at_literal():
        raise ParseError("APPEND needs the message as a literal")
    lit = cur.literal()
    if not lit.binary and b"\x00" in lit.data:
        raise ParseError("NUL in a literal: use a literal8 (~{n})")  # CHAR8 excludes NUL
    if utf8:
        cur.expect(b")")
    return c.AppendMessage(lit.data, flags, internaldate, lit.binary, utf8)


def parse_append(cur: Cursor) -> c.AppendCommand:
    """``APPEND mailbox 1*append-message``."""
    cur.sp()
    mailbox = cur.mailbox()
    messages = [_message(cur)]
    while not cur.at_end():
        messages.append(_message(cur))
    return c.AppendCommand(mailbox, tuple(messages))


PARSERS: dict[str, Callable[[Cursor], c.ImapCommand]] = {"APPEND": parse_append}
