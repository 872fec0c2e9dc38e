"""Every (state, command) pair of the POP3 core, and the gate that refuses commands (the
state table, then the session rules) over every situation, table-driven (RFC 1939 3-7,
RFC 2449 5, RFC 2595 4, RFC 5034 4)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from posthouse.pop3 import (
    VALID_STATES,
    AuthStart,
    Commit,
    Ok,
    Pop3Config,
    Pop3Connection,
    Pop3Event,
    Pop3State,
    Retr,
    Stls,
    Top,
    UserAccepted,
    Utf8,
    Verb,
    Write,
)
from posthouse.pop3.commands import Pop3Command
from posthouse.pop3.connection import _HANDLERS
from posthouse.pop3.replies import render
from posthouse.pop3.states import refusal
from posthouse.wire import LocalProtocolError
from posthouse.wire.events import Closed
from tests.unit.test_pop3_connection import events, logged_in

CONFIG = Pop3Config(allow_plaintext=True, tls_available=True)

LINES: dict[Verb, bytes] = {
    Verb.CAPA: b"CAPA",
    Verb.USER: b"USER alice@example.org",
    Verb.PASS: b"PASS pw",
    Verb.AUTH: b"AUTH PLAIN",
    Verb.STLS: b"STLS",
    Verb.UTF8: b"UTF8",
    Verb.APOP: b"APOP alice 0123456789abcdef",
    Verb.QUIT: b"QUIT",
    Verb.STAT: b"STAT",
    Verb.LIST: b"LIST",
    Verb.RETR: b"RETR 1",
    Verb.DELE: b"DELE 1",
    Verb.NOOP: b"NOOP",
    Verb.RSET: b"RSET",
    Verb.TOP: b"TOP 1 0",
    Verb.UIDL: b"UIDL",
}

AUTH_CAPA = (
    b"+OK capability list follows\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN LOGIN\r\nRESP-CODES\r\n"
    b"AUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE NEVER\r\nUTF8 USER\r\nSTLS\r\n"
    b"IMPLEMENTATION posthouse\r\n.\r\n"
)
TRANS_CAPA = (
    b"+OK capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
    b"PIPELINING\r\nEXPIRE NEVER\r\nUTF8 USER\r\nIMPLEMENTATION posthouse\r\n.\r\n"
)


def wrong_state(verb: Verb) -> list[Pop3Event]:
    return [Write(b"-ERR " + verb.value.encode() + b" not valid in this state\r\n")]


EXPECTED: dict[tuple[Pop3State, Verb], list[Pop3Event]] = {
    (Pop3State.AUTHORIZATION, Verb.CAPA): [Write(AUTH_CAPA)],
    (Pop3State.AUTHORIZATION, Verb.USER): [
        Write(b"+OK send PASS\r\n"),
        UserAccepted("alice@example.org"),
    ],
    (Pop3State.AUTHORIZATION, Verb.PASS): [Write(b"-ERR PASS must follow USER\r\n")],
    (Pop3State.AUTHORIZATION, Verb.AUTH): [AuthStart("PLAIN", None)],
    (Pop3State.AUTHORIZATION, Verb.STLS): [Stls()],
    (Pop3State.AUTHORIZATION, Verb.UTF8): [Write(b"+OK UTF8 enabled\r\n"), Utf8()],
    (Pop3State.AUTHORIZATION, Verb.APOP): [Write(b"-ERR APOP not supported\r\n")],
    (Pop3State.AUTHORIZATION, Verb.QUIT): [Write(b"+OK bye\r\n"), Closed()],
    **{
        (Pop3State.AUTHORIZATION, v): wrong_state(v)
        for v in (
            Verb.STAT,
            Verb.LIST,
            Verb.RETR,
            Verb.DELE,
            Verb.NOOP,
            Verb.RSET,
            Verb.TOP,
            Verb.UIDL,
        )
    },
    (Pop3State.TRANSACTION, Verb.CAPA): [Write(TRANS_CAPA)],
    **{
        (Pop3State.TRANSACTION, v): wrong_state(v)
        for v in (Verb.USER, Verb.PASS, Verb.AUTH, Verb.STLS, Verb.UTF8, Verb.APOP)
    },
    (Pop3State.TRANSACTION, Verb.QUIT): [Commit((), ())],
    (Pop3State.TRANSACTION, Verb.STAT): [Write(b"+OK 3 600\r\n")],
    (Pop3State.TRANSACTION, Verb.LIST): [
        Write(b"+OK 3 messages (600 octets)\r\n1 100\r\n2 200\r\n3 300\r\n.\r\n")
    ],
    (Pop3State.TRANSACTION, Verb.RETR): [Retr(1, 10)],
    (Pop3State.TRANSACTION, Verb.DELE): [Write(b"+OK message 1 deleted\r\n")],
    (Pop3State.TRANSACTION, Verb.NOOP): [Write(b"+OK\r\n")],
    (Pop3State.TRANSACTION, Verb.RSET): [Write(b"+OK maildrop has 3 messages (600 octets)\r\n")],
    (Pop3State.TRANSACTION, Verb.TOP): [Top(1, 10, 0)],
    (Pop3State.TRANSACTION, Verb.UIDL): [
        Write(b"+OK unique-id listing follows\r\n1 1234.10\r\n2 1234.11\r\n3 1234.12\r\n.\r\n")
    ],
}


def connection_in(state: Pop3State) -> Pop3Connection:
    if state is Pop3State.AUTHORIZATION:
        return Pop3Connection(CONFIG)
    conn = logged_in(CONFIG)
    if state is Pop3State.TRANSACTION:
        return conn
    events(conn, b"QUIT\r\n")
    if state is Pop3State.CLOSED:
        conn.send(Ok("bye"))
    return conn


def test_every_verb_has_states_handler_and_a_table_row() -> None:
    for verb in Verb:
        assert verb in VALID_STATES
        assert verb in _HANDLERS
        assert verb in LINES
        for state in (Pop3State.AUTHORIZATION, Pop3State.TRANSACTION):
            assert (state, verb) in EXPECTED


@pytest.mark.parametrize(
    ("state", "verb"),
    [pytest.param(state, verb, id=f"{state.value}-{verb.value}") for state, verb in EXPECTED],
)
def test_state_command_pair(state: Pop3State, verb: Verb) -> None:
    conn = connection_in(state)
    assert events(conn, LINES[verb] + b"\r\n") == EXPECTED[(state, verb)]
    valid = state in VALID_STATES[verb]
    got = EXPECTED[(state, verb)][0]
    assert valid != (isinstance(got, Write) and b"not valid in this state" in got.data)


@pytest.mark.parametrize("state", [Pop3State.AUTHORIZATION, Pop3State.TRANSACTION])
@pytest.mark.parametrize("verb", list(Verb))
def test_keywords_are_case_insensitive(state: Pop3State, verb: Verb) -> None:
    line = LINES[verb]
    keyword, _, rest = line.partition(b" ")
    lower = keyword.lower() + (b" " + rest if rest else b"")
    assert events(connection_in(state), lower + b"\r\n") == EXPECTED[(state, verb)]


@pytest.mark.parametrize("verb", list(Verb))
def test_update_state_processes_nothing_until_commit_answered(verb: Verb) -> None:
    conn = connection_in(Pop3State.UPDATE)
    conn.receive_data(LINES[verb] + b"\r\n")
    with pytest.raises(LocalProtocolError):
        conn.next_event()


@pytest.mark.parametrize("verb", list(Verb))
def test_closed_state_ignores_everything(verb: Verb) -> None:
    conn = connection_in(Pop3State.CLOSED)
    assert conn.state is Pop3State.CLOSED
    assert events(conn, LINES[verb] + b"\r\n") == [Closed()]


@pytest.mark.parametrize("state", [Pop3State.AUTHORIZATION, Pop3State.TRANSACTION])
@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"", b"-ERR unknown command"),
        (b"XYZZY", b"-ERR unknown command"),
        (b"LAST", b"-ERR unknown command"),  # removed in RFC 1939
        (b"STA", b"-ERR unknown command"),
        (b"\xff\xfe", b"-ERR unknown command"),
        (b" STAT", b"-ERR unknown command"),
    ],
)
def test_unknown_commands(state: Pop3State, line: bytes, reply: bytes) -> None:
    assert events(connection_in(state), line + b"\r\n") == [Write(reply + b"\r\n")]


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"STAT 1", b"-ERR no arguments allowed"),
        (b"NOOP x", b"-ERR no arguments allowed"),
        (b"RSET 1", b"-ERR no arguments allowed"),
        (b"RETR", b"-ERR RETR needs a message number"),
        (b"RETR 1 2", b"-ERR RETR needs a message number"),
        (b"DELE", b"-ERR DELE needs a message number"),
        (b"RETR one", b"-ERR invalid message number"),
        (b"RETR -1", b"-ERR invalid message number"),
        (b"RETR +1", b"-ERR invalid message number"),
        (b"TOP 1", b"-ERR TOP needs message number and line count"),
        (b"TOP 1 -1", b"-ERR invalid line count"),
        (b"TOP x 1", b"-ERR invalid message number"),
        (b"LIST 1 2", b"-ERR LIST needs a message number"),
        (b"UIDL x", b"-ERR invalid message number"),
        (b"LIST " + b"1" * 41, b"-ERR argument too long"),
        (b"QUIT now", b"-ERR no arguments allowed"),
    ],
)
def test_bad_arguments_in_transaction(line: bytes, reply: bytes) -> None:
    conn = connection_in(Pop3State.TRANSACTION)
    assert events(conn, line + b"\r\n") == [Write(reply + b"\r\n")]
    assert events(conn, b"NOOP\r\n") == [Write(b"+OK\r\n")]  # the session goes on


def test_trailing_space_is_tolerated() -> None:
    conn = connection_in(Pop3State.TRANSACTION)
    assert events(conn, b"STAT \r\nLIST 1 \r\n") == [
        Write(b"+OK 3 600\r\n"),
        Write(b"+OK 1 100\r\n"),
    ]


# --- the gate: the state table, then the session rules (states.refusal) -------------------

@dataclass(frozen=True)
class Situation:
    """A session as the gate sees it (states.Pop3Situation), set by hand."""

    state: Pop3State
    tls_active: bool
    tls_available: bool
    plaintext_ok: bool
    user_given: bool
    sasl_mechanisms: tuple[str, ...]


_A, _T = Pop3State.AUTHORIZATION, Pop3State.TRANSACTION
PLAIN_MECHS = ("PLAIN", "LOGIN")
SITUATIONS = {
    # column: state, tls_active, tls_available, plaintext_ok, user_given, mechanisms
    "plain": Situation(_A, False, True, True, False, PLAIN_MECHS),  # loopback on 110
    "user": Situation(_A, False, True, True, True, PLAIN_MECHS),  # the line after USER
    "clear": Situation(_A, False, True, False, False, ()),  # a remote peer on 110
    "nocert": Situation(_A, False, False, False, False, ()),  # 110 without a certificate
    "tls": Situation(_A, True, True, True, False, ("SCRAM-SHA-256", *PLAIN_MECHS)),
    "tls-nocert": Situation(_A, True, False, True, False, PLAIN_MECHS),  # both STLS rules
    "trans": Situation(_T, False, False, False, False, ()),  # every rule would refuse
    "update": Situation(Pop3State.UPDATE, False, True, True, True, PLAIN_MECHS),
    "closed": Situation(Pop3State.CLOSED, False, True, True, True, PLAIN_MECHS),
}

GATE_COMMANDS = {
    **{verb.value: Pop3Command(verb) for verb in Verb if verb is not Verb.AUTH},
    "AUTH": Pop3Command(Verb.AUTH),  # the listing form
    "AUTH:PLAIN": Pop3Command(Verb.AUTH, text="PLAIN"),
    "AUTH:SCRAM-SHA-256": Pop3Command(Verb.AUTH, text="SCRAM-SHA-256"),
    "AUTH:CRAM-MD5": Pop3Command(Verb.AUTH, text="CRAM-MD5"),
}

# ok: the handler runs (APOP's handler refuses it itself, in every situation).
GATE = """
command             plain  user  clear  nocert  tls    tls-nocert  trans  update  closed
CAPA                ok     ok    ok     ok      ok     ok          ok     state   state
USER                ok     ok    user   user    ok     ok          state  state   state
PASS                pass   ok    pass   pass    pass   pass        state  state   state
AUTH                ok     ok    ok     ok      ok     ok          state  state   state
AUTH:PLAIN          ok     ok    mech   mech    ok     ok          state  state   state
AUTH:SCRAM-SHA-256  mech   mech  mech   mech    ok     mech        state  state   state
AUTH:CRAM-MD5       mech   mech  mech   mech    mech   mech        state  state   state
STLS                ok     ok    ok     nocert  tls    tls         state  state   state
UTF8                ok     ok    ok     ok      ok     ok          state  state   state
APOP                ok     ok    ok     ok      ok     ok          state  state   state
QUIT                ok     ok    ok     ok      ok     ok          ok     state   state
STAT,LIST,RETR,DELE state  state state  state   state  state       ok     state   state
NOOP,RSET,TOP,UIDL  state  state state  state   state  state       ok     state   state
"""


def gate_reply(cell: str, command: Pop3Command) -> bytes | None:
    """The bytes a cell stands for."""
    replies = {
        "ok": None,
        "state": b"-ERR " + command.verb.value.encode() + b" not valid in this state\r\n",
        "user": b"-ERR USER needs TLS: use STLS first\r\n",
        "pass": b"-ERR PASS must follow USER\r\n",
        "mech": b"-ERR mechanism " + command.text.encode() + b" not available\r\n",
        "tls": b"-ERR TLS already active\r\n",
        "nocert": b"-ERR STLS not available\r\n",
    }
    return replies[cell]


def _gate_cells() -> list[tuple[str, str, str]]:
    """(command, column, cell) for every cell; a row may name several commands."""
    header, *rows = GATE.strip().splitlines()
    columns = header.split()[1:]
    return [(name, column, cell) for names, *cells in map(str.split, rows)
            for name in names.split(",")
            for column, cell in zip(columns, cells, strict=True)]


GATE_CELLS = _gate_cells()


def test_gate_table_covers_every_command_and_situation() -> None:
    assert {name for name, _, _ in GATE_CELLS} == set(GATE_COMMANDS)
    assert {column for _, column, _ in GATE_CELLS} == set(SITUATIONS)
    assert {GATE_COMMANDS[name].verb for name, _, _ in GATE_CELLS} == set(Verb)


@pytest.mark.parametrize(
    ("name", "column", "cell"),
    [pytest.param(*cell, id=f"{cell[0]}-{cell[1]}") for cell in GATE_CELLS],
)
def test_gate(name: str, column: str, cell: str) -> None:
    command = GATE_COMMANDS[name]
    refused = refusal(SITUATIONS[column], command)
    assert (None if refused is None else render(refused)) == gate_reply(cell, command)


def test_gate_refusals_count_towards_max_errors() -> None:
    conn = Pop3Connection(Pop3Config(max_errors=4))
    got = events(conn, b"PASS pw\r\nUSER a@x.org\r\nAUTH PLAIN\r\nSTLS\r\nCAPA\r\n")
    assert got == [
        Write(b"-ERR PASS must follow USER\r\n"),
        Write(b"-ERR USER needs TLS: use STLS first\r\n"),
        Write(b"-ERR mechanism PLAIN not available\r\n"),
        Write(b"-ERR too many errors, closing connection\r\n"),
        Closed(),
    ]


def test_stls_on_tls_without_certificate_says_tls_is_active() -> None:
    conn = Pop3Connection(Pop3Config(tls_active=True, tls_available=False))
    assert events(conn, b"STLS\r\n") == [Write(b"-ERR TLS already active\r\n")]


def test_a_bad_line_after_user_uses_up_the_name() -> None:
    conn = Pop3Connection(CONFIG)
    got = events(conn, b"USER a@x.org\r\nSTLS x\r\nPASS pw\r\n")
    assert got[-1] == Write(b"-ERR PASS must follow USER\r\n")
