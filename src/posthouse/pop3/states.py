"""POP3 session states (RFC 1939 3) and the state table: which command is valid when.

A command outside its states is answered "-ERR ... not valid in this state" by the core
(connection.py) before any handler runs. The core moves the state itself when the adapter
answers a login (TRANSACTION) or QUIT (UPDATE, RFC 1939 6, then CLOSED).
"""

from __future__ import annotations

import enum

from posthouse.pop3.commands import Verb


class Pop3State(enum.Enum):
    """Session states (RFC 1939 3); CLOSED follows QUIT or a fatal error."""

    AUTHORIZATION = "AUTHORIZATION"
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"  # QUIT received in TRANSACTION, waiting for the store to commit
    CLOSED = "CLOSED"


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


