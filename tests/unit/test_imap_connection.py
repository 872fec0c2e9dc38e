"""The command reader: framing, literals, limits, special input modes, and properties."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posthouse.imap.connection import ImapConnection, literal_marker
from posthouse.imap.events import (
    BadInput,
    IdleDone,
    ImapEvent,
    LiteralArg,
    NeedLiteral,
    RawCommand,
)
from posthouse.imap.replies import ResponseCode
from posthouse.imap.responses import Status, encode_response
from posthouse.sasl.events import AuthResponse
from posthouse.wire.errors import LocalProtocolError
from posthouse.wire.events import NEED_DATA

MAX_LINE = 100
MAX_LITERAL = 1000


def new_reader() -> ImapConnection:
    return ImapConnection(MAX_LINE, MAX_LITERAL)


def drive(reader: ImapConnection, data: bytes, *, accept: bool = True) -> list[ImapEvent]:
    """Feed ``data`` and collect events, accepting (or rejecting) every literal."""
    reader.receive_data(data)
    events: list[ImapEvent] = []
    while (event := reader.next_event()) is not NEED_DATA:
        events.append(event)
        if isinstance(event, NeedLiteral):
            if accept:
                reader.accept_literal()
            else:
                reader.reject_literal()
    return events


def test_simple_command() -> None:
    assert drive(new_reader(), b"a1 NOOP\r\n") == [RawCommand("a1", "NOOP", (b"",))]


def test_name_is_upper_cased_and_arguments_kept() -> None:
    (cmd,) = drive(new_reader(), b"x.1 select  INBOX\r\n")
    assert cmd == RawCommand("x.1", "SELECT", (b"  INBOX",))


def test_bare_lf_ends_a_line_and_empty_lines_are_ignored() -> None:
    assert drive(new_reader(), b"\r\n\na NOOP\n") == [RawCommand("a", "NOOP", (b"",))]


def test_partial_line_needs_data() -> None:
    reader = new_reader()
    assert drive(reader, b"a NO") == []
    assert drive(reader, b"OP\r\n") == [RawCommand("a", "NOOP", (b"",))]


def test_synchronizing_literal_waits_for_the_session() -> None:
    reader = new_reader()
    reader.receive_data(b"a LOGIN {3}\r\n")
    need = reader.next_event()
    assert need == NeedLiteral("a", 3, nonsync=False, binary=False, name="LOGIN")
    assert reader.next_event() == need  # asked again until decided
    reader.accept_literal()
    assert reader.next_event() is NEED_DATA
    reader.receive_data(b"bob {2}\r\n")
    assert reader.next_event() == NeedLiteral("a", 2, nonsync=False, binary=False, name="LOGIN")
    reader.accept_literal()
    reader.receive_data(b"pw\r\n")
    assert reader.next_event() == RawCommand(
        "a", "LOGIN", (b" ", LiteralArg(b"bob"), b" ", LiteralArg(b"pw"), b"")
    )


def test_literal_may_contain_crlf_and_braces() -> None:
    data = b"x\r\ny {5}\r\n"
    events = drive(new_reader(), b"a APPEND INBOX {%d+}\r\n" % len(data) + data + b"\r\n")
    assert events[-1] == RawCommand("a", "APPEND", (b" INBOX ", LiteralArg(data), b""))


def test_binary_literal8() -> None:
    events = drive(new_reader(), b"a APPEND x ~{3+}\r\n\x00\x01\x02\r\n")
    assert events[0] == NeedLiteral("a", 3, nonsync=True, binary=True, name="APPEND")
    assert events[1] == RawCommand("a", "APPEND", (b" x ", LiteralArg(b"\x00\x01\x02", True), b""))


def test_zero_length_literal() -> None:
    events = drive(new_reader(), b"a LOGIN {0}\r\n {0+}\r\n\r\n")
    assert events[-1] == RawCommand("a", "LOGIN", (b" ", LiteralArg(b""), b" ",
                                                   LiteralArg(b""), b""))


def test_brace_inside_quotes_is_not_a_literal() -> None:
    (cmd,) = drive(new_reader(), b'a LOGIN "x {3}" "{3}"\r\n')
    assert cmd == RawCommand("a", "LOGIN", (b' "x {3}" "{3}"',))
    assert literal_marker(b'a "\\" {3}"') is None
    assert literal_marker(b'a "\\\\" {3}') == (7, 3, False, False)


def test_rejected_synchronizing_literal_drops_the_command() -> None:
    reader = new_reader()
    events = drive(reader, b"a APPEND x {10}\r\n", accept=False)
    assert events == [NeedLiteral("a", 10, nonsync=False, binary=False,
                          name="APPEND")]
    # the client did not send the literal; the next line is a new command
    assert drive(reader, b"b NOOP\r\n") == [RawCommand("b", "NOOP", (b"",))]


def test_rejected_nonsync_literal_is_skipped_without_buffering() -> None:
    reader = new_reader()
    events = drive(reader, b"a APPEND x {500+}\r\n", accept=False)
    assert len(events) == 1
    for _ in range(10):
        reader.receive_data(b"b NOOP\r\n" * 5 + b"xxxxxxxxxx")  # 50 octets of literal data
        assert reader.buffered == 0
        assert reader.next_event() is NEED_DATA
    # the rest of the command line, with another nonsync literal, is dropped too
    assert drive(reader, b" {4+}\r\nDATA\r\nc NOOP\r\n") == [RawCommand("c", "NOOP", (b"",))]


def test_too_big_literal_is_refused_by_the_reader() -> None:
    reader = new_reader()
    (err,) = drive(reader, b"a APPEND x {1001}\r\n")
    assert isinstance(err, BadInput)
    assert encode_response(err.response()) == b"a NO [TOOBIG] Literal too big\r\n"
    (err,) = drive(reader, b"b APPEND x {99999999999999999999999+}\r\n")
    assert isinstance(err, BadInput)
    assert err.status is Status.BAD
    assert err.code is not None
    assert err.code.name == "TOOBIG"
    reader.receive_data(b"z" * 5000)
    assert reader.buffered == 0  # skipped as it arrives


def test_literal_minus_refuses_big_nonsync_literals() -> None:
    reader = ImapConnection(MAX_LINE, MAX_LITERAL, nonsync_max=4)
    events = drive(reader, b"a LOGIN {4+}\r\nabcd {5+}\r\nabcde\r\nb LOGIN {5}\r\n")
    assert events[0] == NeedLiteral("a", 4, True, False, "LOGIN")
    assert events[1] == BadInput("a", Status.BAD, "Literal too big",
                                    ResponseCode.TOOBIG.code())
    assert events[2] == NeedLiteral("b", 5, False, False, "LOGIN")  # sync: any size


def test_literal_never_read_before_it_is_accepted() -> None:
    reader = new_reader()
    reader.receive_data(b"a APPEND x {5+}\r\nhello\r\n")
    assert isinstance(reader.next_event(), NeedLiteral)
    with pytest.raises(LocalProtocolError):
        reader.expect_idle_done()
    assert reader.buffered == len(b"hello\r\n")


def test_command_budget_limits_many_literals() -> None:
    reader = ImapConnection(MAX_LINE, MAX_LITERAL, max_command=50)
    events = drive(reader, b"a LOGIN {30+}\r\n" + b"x" * 30 + b" {30+}\r\n" + b"y" * 30 + b"\r\n")
    assert isinstance(events[-1], BadInput)
    assert drive(reader, b"b NOOP\r\n") == [RawCommand("b", "NOOP", (b"",))]


def test_accept_without_pending_literal_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        new_reader().accept_literal()
    with pytest.raises(LocalProtocolError):
        new_reader().reject_literal()


@pytest.mark.parametrize(
    ("line", "tag"),
    [
        (b"NOOP\r\n", "NOOP"),  # a tag but no command name
        (b"+ NOOP\r\n", "*"),
        (b" NOOP\r\n", "*"),
        (b"a{ NOOP\r\n", "*"),
        (b"a (NOOP)\r\n", "a"),
        (b"\x00 NOOP\r\n", "*"),
    ],
)
def test_malformed_lines_give_bad_with_the_tag(line: bytes, tag: str) -> None:
    reader = new_reader()
    (err,) = drive(reader, line)
    assert isinstance(err, BadInput)
    assert err.tag == tag
    assert err.status is Status.BAD
    assert drive(reader, b"b NOOP\r\n") == [RawCommand("b", "NOOP", (b"",))]


def test_malformed_line_with_nonsync_literal_skips_it() -> None:
    reader = new_reader()
    events = drive(reader, b"+bad {5+}\r\nb NOO\r\nc NOOP\r\n")
    assert [type(e) for e in events] == [BadInput, RawCommand]
    assert events[1] == RawCommand("c", "NOOP", (b"",))


def test_overlong_line_is_bad_and_resyncs_at_the_next_line() -> None:
    reader = new_reader()
    events = drive(reader, b"t1 LOGIN " + b"x" * 200 + b"\r\nt2 NOOP\r\n")
    assert events == [BadInput("t1", Status.BAD, "Line too long"),
                      RawCommand("t2", "NOOP", (b"",))]


def test_overlong_line_in_pieces_is_not_buffered() -> None:
    reader = new_reader()
    reader.receive_data(b"t1 LOGIN ")
    assert reader.next_event() is NEED_DATA
    reader.receive_data(b"x" * 150)
    assert reader.next_event() == BadInput("t1", Status.BAD, "Line too long")
    for _ in range(5):
        reader.receive_data(b"y" * 1000)
        assert reader.next_event() is NEED_DATA
        assert reader.buffered == 0
    assert drive(reader, b" {3+}\r\nabc\r\nt2 NOOP\r\n") == [RawCommand("t2", "NOOP", (b"",))]


def test_line_of_exactly_max_length_is_accepted() -> None:
    line = b"a LOGIN " + b"x" * (MAX_LINE - 8)
    assert len(line) == MAX_LINE
    assert drive(new_reader(), line + b"\r\n")[0] == RawCommand("a", "LOGIN", (line[7:],))
    (err,) = drive(new_reader(), line + b"x\r\n")
    assert isinstance(err, BadInput)


def test_overlong_continuation_line_uses_the_command_tag() -> None:
    reader = new_reader()
    events = drive(reader, b"t9 LOGIN {1}\r\nx" + b"y" * 200 + b"\r\nt10 NOOP\r\n")
    assert events[1:] == [BadInput("t9", Status.BAD, "Line too long"),
                          RawCommand("t10", "NOOP", (b"",))]


def test_literal_is_not_limited_by_max_line() -> None:
    data = b"z" * 900
    events = drive(new_reader(), b"a APPEND x {900}\r\n" + data + b"\r\n")
    assert events[-1] == RawCommand("a", "APPEND", (b" x ", LiteralArg(data), b""))


def test_idle_done() -> None:
    reader = new_reader()
    assert drive(reader, b"a IDLE\r\n") == [RawCommand("a", "IDLE", (b"",))]
    reader.expect_idle_done()
    assert drive(reader, b"done\r\n") == [IdleDone(ok=True)]
    reader.expect_idle_done()
    assert drive(reader, b"b NOOP\r\nc NOOP\r\n") == [IdleDone(ok=False),
                                                     RawCommand("c", "NOOP", (b"",))]


def test_idle_done_already_buffered() -> None:
    reader = new_reader()
    reader.receive_data(b"a IDLE\r\nDONE\r\n")
    assert isinstance(reader.next_event(), RawCommand)
    reader.expect_idle_done()
    assert reader.next_event() == IdleDone(ok=True)


def test_auth_lines_are_handed_over_as_sent() -> None:
    """Only the SASL mechanism decodes (its replies to "*" and bad base64 are tested in
    test_sasl_plain_login.py and, over sockets, in test_imap_session.py)."""
    reader = new_reader()
    reader.expect_auth_line()
    assert drive(reader, b"AGJvYgBwdw==\r\n") == [AuthResponse(b"AGJvYgBwdw==")]
    reader.expect_auth_line()
    assert drive(reader, b"*\r\n") == [AuthResponse(b"*")]
    reader.expect_auth_line()
    assert drive(reader, b"not base64!\r\n") == [AuthResponse(b"not base64!")]
    reader.expect_auth_line()
    assert drive(reader, b"\r\n") == [AuthResponse(b"")]
    reader.expect_auth_line()
    assert drive(reader, b"A" * 300 + b"\r\na NOOP\r\n") == [
        BadInput("*", Status.BAD, "Line too long"), RawCommand("a", "NOOP", (b"",))]


def test_discard_buffered_at_starttls() -> None:
    reader = new_reader()
    reader.receive_data(b"a STARTTLS\r\nb LOGIN injected {5}\r\n")
    assert reader.next_event() == RawCommand("a", "STARTTLS", (b"",))
    assert reader.buffered > 0
    reader.discard_buffered()
    assert reader.buffered == 0
    assert drive(reader, b"c NOOP\r\n") == [RawCommand("c", "NOOP", (b"",))]


def test_discard_buffered_mid_command() -> None:
    reader = new_reader()
    drive(reader, b"a LOGIN {3}\r\nbo")
    reader.discard_buffered()
    assert drive(reader, b"c NOOP\r\n") == [RawCommand("c", "NOOP", (b"",))]


# -- properties ---------------------------------------------------------------------------

TYPED = (RawCommand, NeedLiteral, BadInput, IdleDone, AuthResponse)

imap_ish = st.lists(
    st.one_of(
        st.sampled_from([b"a NOOP\r\n", b"b LOGIN {3}\r\nbob x\r\n", b"c APPEND x {4+}\r\nab",
                         b"\r\n", b"{", b"}", b"+}", b"~{2}", b'"', b"\\", b" ", b"\n",
                         b"d LOGIN " + b"x" * 120 + b"\r\n", b"{2000+}\r\n", b"e X {0+}\r\n"]),
        st.binary(max_size=30),
    ),
    max_size=20,
).map(b"".join)


def run(data: bytes, chunks: list[int], *, reject_big: bool = True) -> list[ImapEvent]:
    """Feed ``data`` in pieces of the given sizes; accept literals up to 50 octets."""
    reader = ImapConnection(64, 300, max_command=600)
    events: list[ImapEvent] = []
    pos = 0
    sizes = iter(chunks)
    while pos < len(data):
        size = max(1, next(sizes, len(data)))
        reader.receive_data(data[pos : pos + size])
        pos += size
        while (event := reader.next_event()) is not NEED_DATA:
            assert isinstance(event, TYPED)
            events.append(event)
            if isinstance(event, NeedLiteral):
                if reject_big and event.size > 50:
                    reader.reject_literal()
                else:
                    reader.accept_literal()
    return events


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(imap_ish, st.lists(st.integers(1, 40), max_size=200))
def test_any_input_gives_typed_events_whatever_the_chunking(
    data: bytes, chunks: list[int]
) -> None:
    whole = run(data, [len(data)])
    assert run(data, chunks) == whole
    assert run(data, [1] * len(data)) == whole


@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    run(data, [7])
