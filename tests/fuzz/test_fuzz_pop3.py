"""Fuzzing the sans-IO POP3 core (pop3/connection.py) and its command parser.

Valid-ish sessions (USER/PASS and SASL logins, every TRANSACTION command with message
numbers in and out of range, QUIT) are mutated and fed in arbitrary chunkings to a scripted
adapter that answers every request (refusing some). The core must hand out only the
documented events (pop3.events, sasl.events, NEED_DATA, Closed) and never raise; ask only
for messages of the maildrop and commit only their uids; write only CRLF-framed lines; hold
at most one partial line between reads; and read the same conversation however the bytes are
cut (with STLS refused: a successful STLS drops what was pipelined behind it, RFC 2595 4).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from posthouse.pop3 import (
    AuthResponse,
    AuthStart,
    Commit,
    Err,
    Notice,
    Pass,
    Pop3Config,
    Pop3Connection,
    Pop3Request,
    RespCode,
    Retr,
    Stls,
    Top,
    UserAccepted,
    Utf8,
    Write,
)
from posthouse.pop3 import replies as pop3_replies
from posthouse.pop3.commands import BadCommand, Pop3Command
from posthouse.pop3.parser import parse_command
from posthouse.wire.events import Closed, NeedData
from tests.fuzz.support import FUZZ, bytewise, cuts, mutated, split_at, stream

CONFIG = Pop3Config(allow_plaintext=True, tls_available=True, max_sasl_line=300,
                    max_errors=30)
MAILDROP = [(7, 10), (8, 20), (11, 0)]
UIDS = {uid for uid, _ in MAILDROP}
MESSAGE = b"Subject: s\r\n\r\n.dot\r\nline\r\n..\r\n.\r\nend"


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)


numbers = st.one_of(st.integers(0, 5).map(str), st.sampled_from(
    ["-1", "+1", "01", "1.0", "99999999999999999999999", "", "1 2", "٣"]))
logins = st.sampled_from([
    b"USER ann@example.test\r\nPASS good\r\n",
    b"USER ann@example.test\r\nPASS bad\r\n",
    b"AUTH PLAIN " + _b64(b"\0ann\0good") + b"\r\n",
    b"AUTH PLAIN\r\n" + _b64(b"\0ann\0good") + b"\r\n",
    b"AUTH LOGIN\r\n" + _b64(b"ann") + b"\r\n*\r\n",
    b"AUTH SCRAM-SHA-256\r\n=\r\n",
    b"APOP ann 0123456789abcdef0123456789abcdef\r\n",
])
commands = st.one_of(
    st.builds(lambda verb, n: f"{verb} {n}\r\n".encode(),
              st.sampled_from(["LIST", "UIDL", "RETR", "DELE", "TOP", "list", "retr"]),
              numbers),
    st.builds(lambda n, lines: f"TOP {n} {lines}\r\n".encode(), numbers, numbers),
    st.sampled_from([b"STAT\r\n", b"LIST\r\n", b"UIDL\r\n", b"RSET\r\n", b"NOOP\r\n",
                     b"CAPA\r\n", b"UTF8\r\n", b"STLS\r\n", b"AUTH\r\n", b"QUIT\r\n",
                     b"XTND\r\n", b"\r\n", b"USER\r\n", b"PASS x\r\n"]),
    logins,
)
sessions = st.builds(lambda login, rest, end: login + b"".join(rest) + end,
                     st.one_of(logins, st.just(b"")), st.lists(commands, max_size=12),
                     st.sampled_from([b"QUIT\r\n", b""]))
fuzzed = st.one_of(mutated(sessions, max_edits=4),
                   stream(st.one_of(commands, mutated(commands, max_edits=2)), max_pieces=14))

KNOWN = (Write, Notice, Pop3Request, AuthStart, AuthResponse)


@dataclass
class Run:
    events: list[object] = field(default_factory=list)
    output: bytearray = field(default_factory=bytearray)


def answer(conn: Pop3Connection, event: object, refuse: bool, tls: bool) -> bytes:
    """Answer a request the way a server with one mailbox (MAILDROP) would."""
    if refuse and isinstance(event, Pass | AuthStart | AuthResponse | Retr | Top | Commit):
        return conn.send(Err("not now", RespCode.SYS_TEMP))
    if isinstance(event, Pass):
        if event.password == "good":
            return conn.login_succeeded(MAILDROP, uidvalidity=3)
        return conn.send(pop3_replies.invalid_credentials())
    if isinstance(event, AuthStart):
        if event.initial is not None:
            return conn.login_succeeded(MAILDROP, uidvalidity=3)
        return conn.auth_challenge(b"")
    if isinstance(event, AuthResponse):
        if event.line == _b64(b"\0ann\0good"):
            return conn.login_succeeded(MAILDROP, uidvalidity=3)
        if event.line == _b64(b"ann"):
            return conn.auth_challenge(b"Password:")
        return conn.send(pop3_replies.auth_ended("cancelled"))
    if isinstance(event, Stls):
        return conn.start_tls() if tls else conn.send(pop3_replies.stls_not_available())
    if isinstance(event, Retr | Top):
        assert event.uid in UIDS
        assert MAILDROP[event.number - 1][0] == event.uid
        return conn.send_message(MESSAGE)
    if isinstance(event, Commit):
        assert set(event.deleted_uids) <= UIDS
        assert set(event.retrieved_uids) <= UIDS
        return conn.send(pop3_replies.signed_off(len(event.deleted_uids)))
    raise AssertionError(f"not a request: {event!r}")


def drive(chunks: list[bytes], refusals: list[bool], *, tls: bool) -> Run:
    conn = Pop3Connection(CONFIG)
    run = Run()
    run.output += conn.greeting()
    count = 0
    for chunk in chunks:
        conn.receive_data(chunk)
        while True:
            event = conn.next_event()
            if isinstance(event, NeedData):
                assert len(conn._buffer) <= CONFIG.max_sasl_line + 1
                break
            run.events.append(event)
            if isinstance(event, Closed):
                assert isinstance(conn.next_event(), Closed)
                return run
            assert isinstance(event, KNOWN), event
            if isinstance(event, Write):
                run.output += event.data
            elif isinstance(event, UserAccepted | Utf8):
                continue
            else:
                refuse = bool(refusals) and refusals[count % len(refusals)]
                count += 1
                run.output += answer(conn, event, refuse, tls)
    return run


def check_output(output: bytes) -> None:
    assert output.endswith(b"\r\n")
    for line in output[:-2].split(b"\r\n"):
        assert b"\r" not in line
        assert b"\n" not in line


@FUZZ
@given(fuzzed, cuts, st.lists(st.booleans(), max_size=5))
def test_fuzzed_sessions_in_any_chunking(data: bytes, points: list[int],
                                         refusals: list[bool]) -> None:
    whole = drive([data], refusals, tls=False)
    check_output(bytes(whole.output))
    for chunks in (split_at(data, points), bytewise(data)):
        again = drive(chunks, refusals, tls=False)
        assert again.events == whole.events
        assert again.output == whole.output


@FUZZ
@given(fuzzed, cuts, st.lists(st.booleans(), max_size=5))
def test_fuzzed_sessions_with_stls_accepted(data: bytes, points: list[int],
                                            refusals: list[bool]) -> None:
    check_output(bytes(drive(split_at(data, points), refusals, tls=True).output))


@FUZZ
@given(mutated(commands, max_edits=3), st.integers(1, 600))
def test_parser_is_total(line: bytes, limit: int) -> None:
    parsed = parse_command(line.rstrip(b"\r\n"), max_command=limit)
    assert isinstance(parsed, Pop3Command | BadCommand)
    if isinstance(parsed, Pop3Command) and parsed.number is not None:
        assert parsed.number >= 0  # 0 is parsed, then answered "no such message"
