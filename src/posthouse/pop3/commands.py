"""POP3 commands, session states, and which command is valid in which state."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Pop3State(enum.Enum):
    """Session states (RFC 1939 3); CLOSED follows QUIT or a fatal error."""

    AUTHORIZATION = "AUTHORIZATION"
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"  # QUIT received in TRANSACTION, waiting for the store to commit
    CLOSED = "CLOSED"


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


_AUTH = frozenset({Pop3State.AUTHORIZATION})
_TRANS = frozenset({Pop3State.TRANSACTION})
_BOTH = _AUTH | _TRANS

# The state gate: a command outside its states gets "-ERR ... not valid in this state".
VALID_STATES: dict[Verb, frozenset[Pop3State]] = {
    Verb.CAPA: _BOTH,  # RFC 2449 5: valid in AUTHORIZATION and TRANSACTION
    Verb.USER: _AUTH,
    Verb.PASS: _AUTH,
    Verb.AUTH: _AUTH,
    Verb.STLS: _AUTH,  # RFC 2595 4: only in AUTHORIZATION
    Verb.UTF8: _AUTH,  # RFC 6856 2: before authentication
    Verb.APOP: _AUTH,
    Verb.QUIT: _BOTH,
    Verb.STAT: _TRANS,
    Verb.LIST: _TRANS,
    Verb.RETR: _TRANS,
    Verb.DELE: _TRANS,
    Verb.NOOP: _TRANS,
    Verb.RSET: _TRANS,
    Verb.TOP: _TRANS,
    Verb.UIDL: _TRANS,
}


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
    """A line that could not be parsed; ``message`` becomes the -ERR text."""

    message: str
    verb: Verb | None = None
