"""The state table and the dispatch completeness test (parser, state entry, handler)."""

from __future__ import annotations

import importlib

import pytest

from posthouse.imap import commands as c
from posthouse.imap.events import LiteralArg, RawCommand
from posthouse.imap.parser import PARSERS, UID_PARSERS, parse_command
from posthouse.imap.search import AllKey
from posthouse.imap.sequence import SequenceSet
from posthouse.imap.states import STATES, ImapState, allowed, may_expunge, next_state
from posthouse.store.models import FlagOp

# One sample line per command class: proves that the parser table reaches every class.
SAMPLES: dict[type[c.ImapCommand], bytes] = {
    c.CapabilityCommand: b"CAPABILITY",
    c.NoopCommand: b"NOOP",
    c.LogoutCommand: b"LOGOUT",
    c.IdCommand: b"ID NIL",
    c.StartTLSCommand: b"STARTTLS",
    c.AuthenticateCommand: b"AUTHENTICATE PLAIN",
    c.LoginCommand: b"LOGIN a b",
    c.CompressCommand: b"COMPRESS DEFLATE",
    c.EnableCommand: b"ENABLE X",
    c.SelectCommand: b"SELECT a",
    c.ExamineCommand: b"EXAMINE a",
    c.CreateCommand: b"CREATE a",
    c.DeleteCommand: b"DELETE a",
    c.RenameCommand: b"RENAME a b",
    c.SubscribeCommand: b"SUBSCRIBE a",
    c.UnsubscribeCommand: b"UNSUBSCRIBE a",
    c.ListCommand: b'LIST "" *',
    c.LsubCommand: b'LSUB "" *',
    c.NamespaceCommand: b"NAMESPACE",
    c.StatusCommand: b"STATUS a (MESSAGES)",
    c.AppendCommand: b"APPEND",
    c.IdleCommand: b"IDLE",
    c.NotifyCommand: b"NOTIFY NONE",
    c.GetQuotaCommand: b"GETQUOTA a",
    c.GetQuotaRootCommand: b"GETQUOTAROOT a",
    c.SetQuotaCommand: b"SETQUOTA a ()",
    c.GetMetadataCommand: b'GETMETADATA "" /shared/comment',
    c.SetMetadataCommand: b"SETMETADATA a (/private/comment NIL)",
    c.CheckCommand: b"CHECK",
    c.CloseCommand: b"CLOSE",
    c.UnselectCommand: b"UNSELECT",
    c.UnauthenticateCommand: b"UNAUTHENTICATE",
    c.ExpungeCommand: b"EXPUNGE",
    c.UidExpungeCommand: b"UID EXPUNGE 1",
    c.SearchCommand: b"SEARCH ALL",
    c.FetchCommand: b"FETCH 1 UID",
    c.StoreCommand: b"STORE 1 FLAGS ()",
    c.CopyCommand: b"COPY 1 a",
    c.MoveCommand: b"MOVE 1 a",
}


def _parse(sample: bytes) -> c.ImapCommand:
    name, _, rest = sample.partition(b" ")
    if name == b"APPEND":
        args: tuple[bytes | LiteralArg, ...] = (b" a ", LiteralArg(b"x"), b"")
    else:
        args = (b" " + rest if rest else b"",)
    return parse_command(RawCommand("t", name.decode(), args))


@pytest.mark.parametrize("cls", c.COMMAND_TYPES, ids=lambda cls: cls.__name__)
def test_every_command_has_a_parser_and_a_state_entry(cls: type[c.ImapCommand]) -> None:
    assert type(_parse(SAMPLES[cls])) is cls
    assert cls in STATES
    assert cls.NAME


def test_tables_have_nothing_extra() -> None:
    assert set(STATES) == set(c.COMMAND_TYPES)
    produced = {type(_parse(s)) for s in SAMPLES.values()}
    assert produced == set(c.COMMAND_TYPES)
    assert len(PARSERS) + len(UID_PARSERS) >= len(c.COMMAND_TYPES)


# Hook for the handler table (posthouse.imap.handlers). It is skipped until that module
# exports HANDLERS: dict[type[ImapCommand], handler]; then it must cover every command type.
def test_every_command_has_a_handler() -> None:
    handlers = importlib.import_module("posthouse.imap.handlers")
    table = getattr(handlers, "HANDLERS", None)
    if table is None:
        pytest.skip("posthouse.imap.handlers.HANDLERS not written yet")
    assert set(table) == set(c.COMMAND_TYPES)


NA, AU, SE = ImapState.NOT_AUTHENTICATED, ImapState.AUTHENTICATED, ImapState.SELECTED


@pytest.mark.parametrize(
    ("command", "states"),
    [
        (c.CapabilityCommand(), {NA, AU, SE}),
        (c.NoopCommand(), {NA, AU, SE}),
        (c.IdCommand(), {NA, AU, SE}),
        (c.LoginCommand("a", "b"), {NA}),
        (c.StartTLSCommand(), {NA}),
        (c.CompressCommand("DEFLATE"), {AU, SE}),
        (c.EnableCommand(("X",)), {AU}),
        (c.SelectCommand("INBOX"), {AU, SE}),
        (c.IdleCommand(), {AU, SE}),
        (c.NotifyCommand(None), {AU, SE}),  # RFC 5465 3
        (c.AppendCommand("x", ()), {AU, SE}),
        (c.FetchCommand(SequenceSet.of(1), ()), {SE}),
        (c.CloseCommand(), {SE}),
    ],
)
def test_allowed(command: c.ImapCommand, states: set[ImapState]) -> None:
    for state in ImapState:
        assert allowed(command, state) is (state in states)


def test_may_expunge_follows_rfc_9051_7_5_1() -> None:
    one = SequenceSet.of(1)
    assert not may_expunge(c.FetchCommand(one, ()))
    assert not may_expunge(c.StoreCommand(one, FlagOp.ADD, frozenset()))
    assert not may_expunge(c.SearchCommand(AllKey()))
    assert may_expunge(c.FetchCommand(one, (), uid=True))
    assert may_expunge(c.StoreCommand(one, FlagOp.ADD, frozenset(), uid=True))
    assert may_expunge(c.SearchCommand(AllKey(), uid=True))
    for command in (
        c.NoopCommand(),
        c.CheckCommand(),
        c.IdleCommand(),
        c.NotifyCommand(None),  # RFC 5465 3: an implicit NOOP
        c.CopyCommand(one, "x"),
        c.MoveCommand(one, "x"),
        c.ExpungeCommand(),
        c.UidExpungeCommand(one),
    ):
        assert may_expunge(command)


def test_next_state() -> None:
    assert next_state(c.LoginCommand("a", "b"), NA, ok=True) is AU
    assert next_state(c.LoginCommand("a", "b"), NA, ok=False) is NA
    assert next_state(c.SelectCommand("x"), AU, ok=True) is SE
    assert next_state(c.ExamineCommand("x"), SE, ok=False) is AU
    assert next_state(c.CloseCommand(), SE, ok=True) is AU
    assert next_state(c.UnselectCommand(), SE, ok=True) is AU
    assert next_state(c.UnauthenticateCommand(), SE, ok=True) is ImapState.NOT_AUTHENTICATED
    assert next_state(c.UnauthenticateCommand(), AU, ok=False) is AU
    assert next_state(c.LogoutCommand(), SE, ok=True) is ImapState.LOGOUT
    assert next_state(c.NoopCommand(), SE, ok=True) is SE
