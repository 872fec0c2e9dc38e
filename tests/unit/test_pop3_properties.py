"""Properties of the POP3 core: any input yields only events and replies, and feeding the
bytes whole or one at a time gives the same conversation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from posthouse.pop3 import (
    AuthResponse,
    AuthStart,
    Commit,
    Err,
    Notice,
    Ok,
    Pass,
    Pop3Config,
    Pop3Connection,
    Pop3Event,
    RespCode,
    Retr,
    Stls,
    Top,
    Write,
)
from posthouse.pop3.commands import BadCommand, Pop3Command
from posthouse.pop3.parser import parse_command
from posthouse.wire.events import Closed, NeedData

CONFIG = Pop3Config(allow_plaintext=True, tls_available=True, max_sasl_line=300, max_errors=50)
COMMANDS = [
    b"CAPA", b"USER a@x.org", b"PASS good", b"PASS bad", b"AUTH PLAIN", b"AUTH LOGIN =",
    b"AUTH", b"STLS", b"UTF8", b"QUIT", b"STAT", b"LIST", b"LIST 2", b"UIDL", b"UIDL 1",
    b"RETR 1", b"RETR 3", b"DELE 1", b"DELE 2", b"RSET", b"NOOP", b"TOP 2 1", b"TOP 1 0",
    b"*", b"QUFB", b"", b"bogus", b"retr 9", b"X" * 400,
]


def answer(conn: Pop3Connection, event: Pop3Event, *, tls: bool) -> bytes:
    """A deterministic adapter: answers every request."""
    if isinstance(event, Pass):
        if event.password == "good":
            return conn.login_succeeded([(7, 10), (8, 20)], uidvalidity=3)
        return conn.send(Err("nope", RespCode.AUTH))
    if isinstance(event, AuthStart):
        return conn.auth_challenge(b"")
    if isinstance(event, AuthResponse):
        if event.line == b"QUFB":
            return conn.login_succeeded([(1, 1)], uidvalidity=9)
        return conn.send(Err("auth failed", RespCode.AUTH))
    if isinstance(event, Stls):
        return conn.start_tls() if tls else conn.send(Err("no TLS today"))
    if isinstance(event, (Retr, Top)):
        return conn.send_message(b"Subject: s\r\n\r\n.a\r\nb")
    if isinstance(event, Commit):
        return conn.send(Ok("bye"))
    assert isinstance(event, Write)
    return event.data


def converse(chunks: list[bytes], *, tls: bool = True) -> tuple[bytes, list[str]]:
    """Feed chunks one read at a time; return everything written and the event kinds."""
    conn = Pop3Connection(CONFIG)
    out = [conn.greeting()]
    kinds: list[str] = []
    for chunk in chunks:
        conn.receive_data(chunk)
        while True:
            event = conn.next_event()
            if isinstance(event, NeedData):
                break
            kinds.append(type(event).__name__)
            if isinstance(event, Closed):
                return b"".join(out), kinds
            if isinstance(event, Notice):  # UserAccepted, Utf8: already answered
                continue
            out.append(answer(conn, event, tls=tls))
    return b"".join(out), kinds


def _valid_output(out: bytes) -> None:
    for line in out.split(b"\r\n"):
        assert b"\n" not in line
        assert b"\r" not in line


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_any_bytes_give_only_events_and_replies(data: bytes) -> None:
    out, _ = converse([data])
    _valid_output(out)


@settings(max_examples=300)
@given(st.lists(st.sampled_from(COMMANDS) | st.binary(max_size=30), max_size=40),
       st.sampled_from([b"\r\n", b"\n"]))
def test_command_soup_never_raises(lines: list[bytes], eol: bytes) -> None:
    out, _ = converse([eol.join(lines) + eol])
    _valid_output(out)


@settings(max_examples=200)
@given(st.lists(st.sampled_from(COMMANDS) | st.binary(max_size=20), max_size=25))
def test_whole_and_byte_by_byte_feeding_agree(lines: list[bytes]) -> None:
    data = b"\r\n".join(lines) + b"\r\n"
    # STLS is refused here: a successful STLS discards whatever is buffered, which by design
    # depends on how the bytes arrived (RFC 2595 4).
    whole = converse([data], tls=False)
    single = converse([data[i : i + 1] for i in range(len(data))], tls=False)
    assert whole == single


@given(st.binary(max_size=600))
def test_parser_total(line: bytes) -> None:
    assert isinstance(parse_command(line, max_command=512), (Pop3Command, BadCommand))
