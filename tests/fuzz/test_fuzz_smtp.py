"""Fuzzing the sans-IO SMTP server core (smtp/connection.py) and its path grammar.

Valid-ish sessions (every command of the verb table, with real parameters, DATA content and
BDAT chunks of the right size) are mutated octet by octet and fed in arbitrary chunkings to a
scripted adapter that also refuses some commands. Whatever the input, the core must:

- hand out only the documented events (smtp.events, sasl.events, NEED_DATA, Closed) and never
  raise; after Closed it keeps returning Closed;
- write only well-formed replies (``ddd`` or ``ddd-`` lines ending in CRLF);
- keep its memory bounded: after NEED_DATA at most one partial command line is buffered, and
  DATA/BDAT content never exceeds the size limit;
- read the same conversation however the bytes are cut (when STARTTLS is refused: a
  successful STARTTLS drops what was pipelined behind it, RFC 3207 4.2).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from posthouse.sasl import Challenge
from posthouse.sasl.events import AuthResponse, AuthStart
from posthouse.smtp import replies
from posthouse.smtp.config import SmtpConfig
from posthouse.smtp.connection import SmtpServerConnection
from posthouse.smtp.events import (
    BdatChunk,
    DataStart,
    Expn,
    Helo,
    Help,
    MessageComplete,
    Quit,
    Rejected,
    SmtpEvent,
    StartTLS,
    Vrfy,
)
from posthouse.smtp.grammar import Address, AddressError, parse_path
from posthouse.smtp.replies import Reply
from posthouse.wire.events import Closed, NeedData
from tests.fuzz.inputs import domains, dot_atoms, labels, smtp_paths
from tests.fuzz.support import FUZZ, bytewise, cuts, mutated, split_at, stream

CONFIG = SmtpConfig("mx.example.org", max_line=512, max_message_size=300, max_recipients=3,
                    starttls=True, auth=True, auth_requires_tls=False)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


good_mail_params = st.sampled_from([
    "", "SIZE=100", "BODY=8BITMIME", "SMTPUTF8", "RET=FULL",
    "ENVID=a+2Bb", "AUTH=<>", "SIZE=10 BODY=7BIT RET=HDRS",
])
mail_params = st.one_of(good_mail_params, st.lists(st.sampled_from([
    "SIZE=99999999999999999999", "SIZE=", "BODY=8BITMIME", "RET=HDRS", "ENVID=+ZZ",
    "AUTH=a+40b", "X=Y", "=", "SIZE=1 SIZE=2", "SMTPUTF8",
]), max_size=3).map(" ".join))
good_rcpt_params = st.sampled_from([
    "", "NOTIFY=NEVER", "NOTIFY=SUCCESS,FAILURE,DELAY", "ORCPT=rfc822;a@b",
    "ORCPT=utf-8;a\\x{40}b",
])
rcpt_params = st.one_of(good_rcpt_params, st.lists(st.sampled_from([
    "NOTIFY=NEVER,SUCCESS", "NOTIFY=", "ORCPT=x", "ORCPT=rfc822;+4", "FOO", "NOTIFY=DELAY",
]), max_size=3).map(" ".join))
good_paths = st.builds(lambda local, domain: f"<{local}@{domain}>", dot_atoms,
                      st.lists(labels, min_size=1, max_size=3).map(".".join))
bodies = st.lists(st.sampled_from([
    b"Subject: x\r\n", b"\r\n", b"..dot\r\n", b".\r\n", b"\n.\n", b"\r.\r", b"a" * 80,
    b"\x00\xff", b"line\r\n",
]), max_size=8).map(b"".join)


@st.composite
def bdat(draw: st.DrawFn) -> bytes:
    chunk = draw(st.binary(max_size=40))
    last = draw(st.sampled_from(["", " LAST", " last", " LAST x"]))
    size = draw(st.one_of(st.just(len(chunk)), st.integers(0, 60)))
    return f"BDAT {size}{last}\r\n".encode() + chunk


auth_lines = st.one_of(
    st.sampled_from(["AUTH PLAIN", "AUTH LOGIN", "AUTH SCRAM-SHA-256", "AUTH CRAM-MD5",
                     "AUTH PLAIN =", "AUTH", "AUTH PLAIN " + _b64(b"\0ann\0pw")]),
    st.binary(max_size=20).map(lambda b: "AUTH PLAIN " + _b64(b)),
).map(lambda line: line + "\r\n" + _b64(b"user") + "\r\n*\r\n")

commands = st.one_of(
    st.builds(lambda verb, d: f"{verb} {d}\r\n", st.sampled_from(["EHLO", "HELO", "ehlo"]),
              domains),
    st.builds(lambda p, x: f"MAIL FROM:{p} {x}\r\n", smtp_paths, mail_params),
    st.builds(lambda p, x: f"RCPT TO:{p} {x}\r\n", smtp_paths, rcpt_params),
    st.sampled_from(["RSET", "NOOP", "NOOP x", "QUIT", "STARTTLS", "HELP", "HELP MAIL",
                     "VRFY ann", "EXPN list", "DATA", "TURN", "mail from:<a@b>", ""])
    .map(lambda v: v + "\r\n"),
    auth_lines,
).map(lambda text: text.encode("utf-8", "surrogatepass"))

contents = st.one_of(bodies.map(lambda b: b"DATA\r\n" + b + b"\r\n.\r\n"),
                    st.lists(bdat(), min_size=1, max_size=3).map(b"".join))
transactions = st.builds(
    lambda mail, rcpts, content: mail + b"".join(rcpts) + content,
    st.builds(lambda p, x: f"MAIL FROM:{p} {x}\r\n".encode(),
              st.one_of(st.just("<a@b.example>"), good_paths), good_mail_params),
    st.lists(st.builds(lambda p, x: f"RCPT TO:{p} {x}\r\n".encode(),
                       st.one_of(st.just("<c@d.example>"), good_paths, smtp_paths),
                       st.one_of(good_rcpt_params, good_rcpt_params, rcpt_params)),
             min_size=1, max_size=4),
    contents,
)
session_parts = st.one_of(commands, contents, transactions)
sessions = st.builds(
    lambda hello, parts: hello + b"".join(parts),
    st.sampled_from([b"EHLO c.example\r\n", b"HELO c.example\r\n", b""]),
    st.lists(session_parts, max_size=8),
)
fuzzed = st.one_of(
    mutated(sessions, max_edits=4),
    stream(st.one_of(session_parts, mutated(session_parts, max_edits=2)), max_pieces=10)
    .map(lambda data: b"EHLO c.example\r\n" + data),
)

KNOWN = (SmtpEvent, AuthStart, AuthResponse)


@dataclass
class Run:
    events: list[object] = field(default_factory=list)
    output: bytearray = field(default_factory=bytearray)


def answer(conn: SmtpServerConnection, event: object, refuse: bool, tls: bool) -> Reply:
    """A permissive server, except where ``refuse`` says to turn the command down."""
    if isinstance(event, Rejected):
        return event.reply
    if isinstance(event, Quit):
        return replies.closing("mx.example.org")
    if refuse:
        return replies.temporary_failure()
    if isinstance(event, Helo):
        return conn.ehlo_reply()
    if isinstance(event, DataStart):
        return replies.start_mail_input()
    if isinstance(event, StartTLS):
        return replies.ready_to_start_tls() if tls else replies.tls_not_available()
    if isinstance(event, AuthStart):
        if event.initial is None:
            return replies.auth_challenge(Challenge(b""))
        return replies.auth_succeeded()
    if isinstance(event, AuthResponse):
        return replies.auth_challenge(Challenge(b"more")) if event.line == b"dXNlcg==" \
            else replies.auth_succeeded()
    if isinstance(event, Vrfy | Expn):
        return replies.cannot_verify()
    if isinstance(event, Help):
        return replies.help_text()
    if isinstance(event, BdatChunk):
        return replies.chunk_received(event.size)
    if isinstance(event, MessageComplete):
        return replies.message_accepted("Q1")
    return replies.ok()


def check_bounds(conn: SmtpServerConnection) -> None:
    """What the core may hold between two reads."""
    assert len(conn._buf) <= CONFIG.max_line - 1  # one partial line, CRLF not yet seen
    data = conn._data
    if data is not None:
        assert len(data.content) <= CONFIG.max_message_size
        assert len(data._carry) <= 2
    assert sum(map(len, conn._state._chunks)) <= CONFIG.max_message_size


def drive(chunks: list[bytes], refusals: list[bool], *, tls: bool) -> Run:
    conn = SmtpServerConnection(CONFIG)
    run = Run()
    run.output += conn.greeting()
    count = 0
    for chunk in [*chunks, b""]:
        conn.receive_data(chunk)  # b"" last: the client closed its side
        while True:
            event = conn.next_event()
            if isinstance(event, NeedData):
                check_bounds(conn)
                break
            run.events.append(event)
            if isinstance(event, Closed):
                assert isinstance(conn.next_event(), Closed)
                break
            assert isinstance(event, KNOWN), event
            if isinstance(event, MessageComplete):
                assert len(event.data) <= CONFIG.max_message_size
            refuse = bool(refusals) and refusals[count % len(refusals)]
            count += 1
            reply = answer(conn, event, refuse, tls)
            run.output += conn.send(reply)
            if isinstance(event, StartTLS) and reply.code == 220:
                conn.start_tls()
        if conn.closed:
            break
    assert isinstance(run.events[-1], Closed), "EOF always ends the session"
    return run


def check_output(output: bytes) -> None:
    assert output.endswith(b"\r\n")
    for line in output[:-2].split(b"\r\n"):
        assert b"\r" not in line
        assert b"\n" not in line
        assert line[:3].isdigit()
        assert 200 <= int(line[:3]) <= 599
        assert line[3:4] in (b" ", b"-", b"")


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
def test_fuzzed_sessions_with_starttls_accepted(data: bytes, points: list[int],
                                                refusals: list[bool]) -> None:
    run = drive(split_at(data, points), refusals, tls=True)
    check_output(bytes(run.output))


@FUZZ
@given(st.one_of(mutated(smtp_paths.map(str.encode)), st.binary(max_size=40)),
       st.booleans())
def test_path_parser_returns_or_raises_address_error(raw: bytes, null_ok: bool) -> None:
    text = raw.decode("utf-8", "replace")
    try:
        address, end = parse_path(text, null_ok=null_ok)
    except AddressError:
        return
    assert 0 < end <= len(text)
    if address is not None:
        assert isinstance(address, Address)
        again, _ = parse_path(f"<{address.text}>")
        assert again == address, "an accepted address prints as a path that parses back"
