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


class ImapState(enum.Enum):
    """Connection states (RFC 9051 3)."""

    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


_ANY = frozenset({ImapState.NOT_AUTHENTICATED, ImapState.AUTHENTICATED, ImapState.SELECTED})
_NOT_AUTH = frozenset({ImapState.NOT_AUTHENTICATED})
_AUTH = frozenset({ImapState.AUTHENTICATED, ImapState.SELECTED})
_AUTH_ONLY = frozenset({ImapState.AUTHENTICATED})
_SELECTED = frozenset({ImapState.SELECTED})

STATES: dict[type[c.ImapCommand], frozenset[ImapState]] = {
    c.CapabilityCommand: _ANY,
    c.NoopCommand: _ANY,
    c.LogoutCommand: _ANY,
    c.IdCommand: _ANY,  # RFC 2971 3.1: "any state"
    c.StartTLSCommand: _NOT_AUTH,
    c.AuthenticateCommand: _NOT_AUTH,
    c.LoginCommand: _NOT_AUTH,
    c.CompressCommand: _AUTH,  # RFC 4978 3: authenticated or selected
    c.EnableCommand: _AUTH_ONLY,  # RFC 5161 3.1, RFC 9051 6.3.1: authenticated state only
    c.SelectCommand: _AUTH,
    c.ExamineCommand: _AUTH,
    c.CreateCommand: _AUTH,
    c.DeleteCommand: _AUTH,
    c.RenameCommand: _AUTH,
    c.SubscribeCommand: _AUTH,
    c.UnsubscribeCommand: _AUTH,
    c.ListCommand: _AUTH,
    c.LsubCommand: _AUTH,
    c.NamespaceCommand: _AUTH,
    c.StatusCommand: _AUTH,
    c.AppendCommand: _AUTH,
    c.IdleCommand: _AUTH,  # RFC 2177 3: authenticated or selected
    c.NotifyCommand: _AUTH,  # RFC 5465 3: authenticated or selected
    c.GetQuotaCommand: _AUTH,
    c.GetQuotaRootCommand: _AUTH,
    c.SetQuotaCommand: _AUTH,
    c.GetMetadataCommand: _AUTH,  # RFC 5464 4.2, 4.3: authenticated or selected
    c.SetMetadataCommand: _AUTH,
    c.CheckCommand: _SELECTED,
    c.CloseCommand: _SELECTED,
    c.UnselectCommand: _SELECTED,
    c.UnauthenticateCommand: _AUTH,  # RFC 8437 3
    c.ExpungeCommand: _SELECTED,
    c.UidExpungeCommand: _SELECTED,
    c.SearchCommand: _SELECTED,
    c.FetchCommand: _SELECTED,
    c.StoreCommand: _SELECTED,
    c.CopyCommand: _SELECTED,
    c.MoveCommand: _SELECTED,
}


def allowed(command: c.ImapCommand, state: ImapState) -> bool:
    """Whether ``command`` may be run in ``state`` (else the session answers BAD)."""
    return state in STATES.get(type(command), frozenset())


def may_expunge(command: c.ImapCommand) -> bool:
    """Whether pending EXPUNGE responses may be sent while answering ``command``."""
    if isinstance(command, c.FetchCommand | c.StoreCommand | c.SearchCommand):
        return command.uid
    return True


def next_state(command: c.ImapCommand, state: ImapState, *, ok: bool) -> ImapState:
    """The state after ``command`` completed (``ok``: tagged OK) in ``state``.

    A failed SELECT/EXAMINE leaves no mailbox selected (RFC 9051 6.3.2).
    """
    if isinstance(command, c.LogoutCommand):
        return ImapState.LOGOUT
    if isinstance(command, c.LoginCommand | c.AuthenticateCommand):
        return ImapState.AUTHENTICATED if ok else state
    if isinstance(command, c.SelectCommand | c.ExamineCommand):
        return ImapState.SELECTED if ok else ImapState.AUTHENTICATED
    if isinstance(command, c.CloseCommand | c.UnselectCommand) and ok:
        return ImapState.AUTHENTICATED
    if isinstance(command, c.UnauthenticateCommand) and ok:
        return ImapState.NOT_AUTHENTICATED
    return state
