"""POP3 session states (RFC 1939 3) and the rules that gate every command: which command may
run when.

``refusal(situation, command)`` is the one gate the core (connection.py) calls for each parsed
command before its handler runs, in order: the command is outside its states (the table
``VALID_STATES``), or a session rule of its verb refuses it (``_RULES``: USER only where a
password may be sent, PASS only right after USER, AUTH only with a mechanism on offer, STLS
once and only with a certificate). It reads the session through ``Pop3Situation``, a read-only
view that ``Pop3Connection`` provides, and returns the -ERR to send (replies.py words it); the
core sends it and counts it towards ``max_errors``. The core moves the state itself when the
adapter answers a login (TRANSACTION) or QUIT (UPDATE, RFC 1939 6, then CLOSED).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Protocol

from posthouse.pop3 import replies
from posthouse.pop3.commands import Pop3Command, Verb
from posthouse.pop3.replies import Err


class Pop3State(enum.Enum):
    """Session states (RFC 1939 3); CLOSED follows QUIT or a fatal error."""

    AUTHORIZATION = "AUTHORIZATION"
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"  # QUIT received in TRANSACTION, waiting for the store to commit
    CLOSED = "CLOSED"


_AUTH = frozenset({Pop3State.AUTHORIZATION})
_TRANS = frozenset({Pop3State.TRANSACTION})
_BOTH = _AUTH | _TRANS

# The state table: a command outside its states gets "-ERR ... not valid in this state".
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


class Pop3Situation(Protocol):
    """What the gate may read of a session; ``Pop3Connection`` provides it."""

    @property
    def state(self) -> Pop3State:
        """Where the session stands."""

    @property
    def tls_active(self) -> bool:
        """TLS is on (port 995, or after STLS)."""

    @property
    def tls_available(self) -> bool:
        """A certificate is configured, so STLS can be offered."""

    @property
    def plaintext_ok(self) -> bool:
        """A password may be sent: TLS is active or plaintext is allowed."""

    @property
    def user_given(self) -> bool:
        """The line before the command being gated was an accepted USER."""

    @property
    def sasl_mechanisms(self) -> tuple[str, ...]:
        """The SASL mechanisms offered now."""


# -- Session rules: refusals that depend on more than the state --------------------------------
# Each rule answers for the verbs it is listed under in _RULES, in that order.

def _user_needs_secure_channel(situation: Pop3Situation, command: Pop3Command) -> Err | None:
    return None if situation.plaintext_ok else replies.user_needs_tls()


def _pass_right_after_user(situation: Pop3Situation, command: Pop3Command) -> Err | None:
    return None if situation.user_given else replies.pass_needs_user()  # RFC 1939 7


def _mechanism_offered(situation: Pop3Situation, command: Pop3Command) -> Err | None:
    if not command.text:  # the listing form names no mechanism: it lists what is offered
        return None
    if command.text in situation.sasl_mechanisms:
        return None
    return replies.mechanism_not_available(command.text)


def _tls_once(situation: Pop3Situation, command: Pop3Command) -> Err | None:
    return replies.tls_already_active() if situation.tls_active else None  # RFC 2595 4


def _tls_available(situation: Pop3Situation, command: Pop3Command) -> Err | None:
    return None if situation.tls_available else replies.stls_not_available()


_Rule = Callable[[Pop3Situation, Pop3Command], Err | None]
_RULES: dict[Verb, tuple[_Rule, ...]] = {
    Verb.USER: (_user_needs_secure_channel,),
    Verb.PASS: (_pass_right_after_user,),
    Verb.AUTH: (_mechanism_offered,),
    Verb.STLS: (_tls_once, _tls_available),
}


def refusal(situation: Pop3Situation, command: Pop3Command) -> Err | None:
    """The -ERR refusing ``command`` now, or None if it may run: the state table, then the
    session rules of its verb, the first that refuses."""
    verb = command.verb
    if situation.state not in VALID_STATES[verb]:
        return replies.not_valid_in_state(verb.value)
    for rule in _RULES.get(verb, ()):
        refused = rule(situation, command)
        if refused is not None:
            return refused
    return None
