"""Which command is valid in which state (RFC 9051 3, 6), and when EXPUNGE may be sent.

EXPUNGE rule (RFC 9051 7.5.1, same words in RFC 3501 7.4.1): an untagged EXPUNGE "MUST NOT
be sent when no command is in progress, nor while responding to a FETCH, STORE, or SEARCH
command", because the client may be using message sequence numbers that an expunge would
shift. The same section notes that UID FETCH, UID STORE and UID SEARCH are different commands
and that an EXPUNGE response MAY be sent during a UID command. So only the non-UID forms of
FETCH, STORE and SEARCH hold expunges back; every other command (NOOP, CHECK, IDLE while it
runs, UID commands, COPY, MOVE ...) may release them. Outside any command nothing is sent
unsolicited except during IDLE, which is a command in progress. EXISTS, RECENT and FETCH
flag updates may follow any command (RFC 9051 5.2, 7.4.1).
"""

from __future__ import annotations

import enum

from posthouse.imap import commands as c


class State(enum.Enum):
    """Connection states (RFC 9051 3)."""

    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


_ANY = frozenset({State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED})
_NOT_AUTH = frozenset({State.NOT_AUTHENTICATED})
_AUTH = frozenset({State.AUTHENTICATED, State.SELECTED})
_AUTH_ONLY = frozenset({State.AUTHENTICATED})
_SELECTED = frozenset({State.SELECTED})

STATES: dict[type[c.Command], frozenset[State]] = {
    c.Capability: _ANY,
    c.Noop: _ANY,
    c.Logout: _ANY,
    c.Id: _ANY,  # RFC 2971 3.1: "any state"
    c.StartTLS: _NOT_AUTH,
    c.Authenticate: _NOT_AUTH,
    c.Login: _NOT_AUTH,
    c.Enable: _AUTH_ONLY,  # RFC 5161 3.1, RFC 9051 6.3.1: authenticated state only
    c.Select: _AUTH,
    c.Examine: _AUTH,
    c.Create: _AUTH,
    c.Delete: _AUTH,
    c.Rename: _AUTH,
    c.Subscribe: _AUTH,
    c.Unsubscribe: _AUTH,
    c.List: _AUTH,
    c.Lsub: _AUTH,
    c.Namespace: _AUTH,
    c.Status: _AUTH,
    c.Append: _AUTH,
    c.Idle: _AUTH,  # RFC 2177 3: authenticated or selected
    c.GetQuota: _AUTH,
    c.GetQuotaRoot: _AUTH,
    c.SetQuota: _AUTH,
    c.Check: _SELECTED,
    c.Close: _SELECTED,
    c.Unselect: _SELECTED,
    c.Expunge: _SELECTED,
    c.UidExpunge: _SELECTED,
    c.Search: _SELECTED,
    c.Fetch: _SELECTED,
    c.Store: _SELECTED,
    c.Copy: _SELECTED,
    c.Move: _SELECTED,
}


def allowed(command: c.Command, state: State) -> bool:
    """Whether ``command`` may be run in ``state`` (else the session answers BAD)."""
    return state in STATES.get(type(command), frozenset())


def may_expunge(command: c.Command) -> bool:
    """Whether pending EXPUNGE responses may be sent while answering ``command``."""
    if isinstance(command, c.Fetch | c.Store | c.Search):
        return command.uid
    return True


def next_state(command: c.Command, state: State, *, ok: bool) -> State:
    """The state after ``command`` completed (``ok``: tagged OK) in ``state``.

    A failed SELECT/EXAMINE leaves no mailbox selected (RFC 9051 6.3.2).
    """
    if isinstance(command, c.Logout):
        return State.LOGOUT
    if isinstance(command, c.Login | c.Authenticate):
        return State.AUTHENTICATED if ok else state
    if isinstance(command, c.Select | c.Examine):
        return State.SELECTED if ok else State.AUTHENTICATED
    if isinstance(command, c.Close | c.Unselect) and ok:
        return State.AUTHENTICATED
    return state
