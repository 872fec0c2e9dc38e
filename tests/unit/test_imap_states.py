"""The state table and the dispatch completeness test (parser, state entry, handler)."""

from __future__ import annotations

import importlib

import pytest

from posthouse.imap import commands as c
from posthouse.imap.parse import PARSERS, UID_PARSERS, parse_command
from posthouse.imap.reader import LiteralArg, RawCommand
from posthouse.imap.search import AllKey
from posthouse.imap.sequence import SequenceSet
from posthouse.imap.states import STATES, State, allowed, may_expunge, next_state
from posthouse.store.models import FlagOp

# One sample line per command class: proves that the parser table reaches every class.
SAMPLES: dict[type[c.Command], bytes] = {
    c.Capability: b"CAPABILITY", c.Noop: b"NOOP", c.Logout: b"LOGOUT", c.Id: b"ID NIL",
    c.StartTLS: b"STARTTLS", c.Authenticate: b"AUTHENTICATE PLAIN", c.Login: b"LOGIN a b",
    c.Enable: b"ENABLE X", c.Select: b"SELECT a", c.Examine: b"EXAMINE a",
    c.Create: b"CREATE a", c.Delete: b"DELETE a", c.Rename: b"RENAME a b",
    c.Subscribe: b"SUBSCRIBE a", c.Unsubscribe: b"UNSUBSCRIBE a", c.List: b'LIST "" *',
    c.Lsub: b'LSUB "" *', c.Namespace: b"NAMESPACE", c.Status: b"STATUS a (MESSAGES)",
    c.Append: b"APPEND", c.Idle: b"IDLE", c.GetQuota: b"GETQUOTA a",
    c.GetQuotaRoot: b"GETQUOTAROOT a", c.SetQuota: b"SETQUOTA a ()", c.Check: b"CHECK",
    c.Close: b"CLOSE", c.Unselect: b"UNSELECT", c.Expunge: b"EXPUNGE",
    c.UidExpunge: b"UID EXPUNGE 1", c.Search: b"SEARCH ALL", c.Fetch: b"FETCH 1 UID",
    c.Store: b"STORE 1 FLAGS ()", c.Copy: b"COPY 1 a", c.Move: b"MOVE 1 a",
}


def _parse(sample: bytes) -> c.Command:
    name, _, rest = sample.partition(b" ")
    if name == b"APPEND":
        args: tuple[bytes | LiteralArg, ...] = (b" a ", LiteralArg(b"x"), b"")
    else:
        args = (b" " + rest if rest else b"",)
    return parse_command(RawCommand("t", name.decode(), args))


@pytest.mark.parametrize("cls", c.COMMAND_TYPES, ids=lambda cls: cls.__name__)
def test_every_command_has_a_parser_and_a_state_entry(cls: type[c.Command]) -> None:
    assert type(_parse(SAMPLES[cls])) is cls
    assert cls in STATES
    assert cls.NAME


def test_tables_have_nothing_extra() -> None:
    assert set(STATES) == set(c.COMMAND_TYPES)
    produced = {type(_parse(s)) for s in SAMPLES.values()}
    assert produced == set(c.COMMAND_TYPES)
    assert len(PARSERS) + len(UID_PARSERS) >= len(c.COMMAND_TYPES)


# Hook for the handler table (posthouse.imap.handlers). It is skipped until that module
# exports HANDLERS: dict[type[Command], handler]; then it must cover every command type.
def test_every_command_has_a_handler() -> None:
    handlers = importlib.import_module("posthouse.imap.handlers")
    table = getattr(handlers, "HANDLERS", None)
    if table is None:
        pytest.skip("posthouse.imap.handlers.HANDLERS not written yet")
    assert set(table) == set(c.COMMAND_TYPES)


NA, AU, SE = State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED


@pytest.mark.parametrize(
    ("command", "states"),
    [
        (c.Capability(), {NA, AU, SE}),
        (c.Noop(), {NA, AU, SE}),
        (c.Id(), {NA, AU, SE}),
        (c.Login("a", "b"), {NA}),
        (c.StartTLS(), {NA}),
        (c.Enable(("X",)), {AU}),
        (c.Select("INBOX"), {AU, SE}),
        (c.Idle(), {AU, SE}),
        (c.Append("x", ()), {AU, SE}),
        (c.Fetch(SequenceSet.of(1), ()), {SE}),
        (c.Close(), {SE}),
    ],
)
def test_allowed(command: c.Command, states: set[State]) -> None:
    for state in State:
        assert allowed(command, state) is (state in states)


def test_may_expunge_follows_rfc_9051_7_5_1() -> None:
    one = SequenceSet.of(1)
    assert not may_expunge(c.Fetch(one, ()))
    assert not may_expunge(c.Store(one, FlagOp.ADD, frozenset()))
    assert not may_expunge(c.Search(AllKey()))
    assert may_expunge(c.Fetch(one, (), uid=True))
    assert may_expunge(c.Store(one, FlagOp.ADD, frozenset(), uid=True))
    assert may_expunge(c.Search(AllKey(), uid=True))
    for command in (c.Noop(), c.Check(), c.Idle(), c.Copy(one, "x"), c.Move(one, "x"),
                    c.Expunge(), c.UidExpunge(one)):
        assert may_expunge(command)


def test_next_state() -> None:
    assert next_state(c.Login("a", "b"), NA, ok=True) is AU
    assert next_state(c.Login("a", "b"), NA, ok=False) is NA
    assert next_state(c.Select("x"), AU, ok=True) is SE
    assert next_state(c.Examine("x"), SE, ok=False) is AU
    assert next_state(c.Close(), SE, ok=True) is AU
    assert next_state(c.Unselect(), SE, ok=True) is AU
    assert next_state(c.Logout(), SE, ok=True) is State.LOGOUT
    assert next_state(c.Noop(), SE, ok=True) is SE
