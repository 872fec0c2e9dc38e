"""POP3 commands: the verbs we know and a parsed command line (states.py gates them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from posthouse.pop3.replies import Err


class Verb(enum.Enum):
    """Every command keyword we know."""

    CAPA = "CAPA"  # RFC 2449 5
    USER = "USER"  # RFC 1939 7
    PASS = "PASS"  # noqa: S105 - a command keyword, not a password
    AUTH = "AUTH"  # RFC 5034 4
    STLS = "STLS"  # RFC 2595 4
    UTF8 = "UTF8"  # RFC 6856 2
    QUIT = "QUIT"
    STAT = "STAT"
    LIST = "LIST"
    RETR = "RETR"
    DELE = "DELE"
    NOOP = "NOOP"
    RSET = "RSET"
    TOP = "TOP"
    UIDL = "UIDL"
    APOP = "APOP"  # recognised only to refuse it: it needs passwords stored in the clear


@dataclass(frozen=True, slots=True)
class Pop3Command:
    """A parsed command line; which fields are set depends on the verb."""

    verb: Verb
    number: int | None = None  # message number (LIST, UIDL, RETR, DELE, TOP)
    lines: int | None = None  # TOP's line count
    text: str = ""  # USER name, PASS password, AUTH mechanism
    initial: bytes | None = None  # AUTH initial response, exactly as sent


@dataclass(frozen=True, slots=True)
class BadCommand:
    """A line that could not be parsed; ``reply`` is the -ERR to send."""

    reply: Err
    verb: Verb | None = None
