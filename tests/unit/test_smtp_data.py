"""DATA content: end detection, dot-unstuffing, size limit while streaming (RFC 5321 4.5.2)."""

from __future__ import annotations

import pytest

from posthouse.smtp import replies
from posthouse.smtp.connection import SmtpServerConnection
from posthouse.smtp.data import DataReader
from posthouse.smtp.events import DataStart, MessageComplete, Rejected, SmtpEvent
from posthouse.smtp.replies import Reply
from posthouse.smtp.states import Phase
from tests.unit.test_smtp_support import CONFIG, auto_reply, bytewise, config, feed, run

START = b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"


def read_all(*chunks: bytes, max_size: int = 1000) -> tuple[DataReader, bytes | None]:
    reader = DataReader(max_size)
    leftover = None
    for chunk in chunks:
        leftover = reader.feed(chunk)
        if leftover is not None:
            break
    return reader, leftover


@pytest.mark.parametrize(
    ("wire", "content"),
    [
        (b".\r\n", b""),  # the CRLF of the DATA line counts: empty message
        (b"\r\n.\r\n", b"\r\n"),
        (b"a\r\n.\r\n", b"a\r\n"),
        (b"a\r\nb\r\n.\r\n", b"a\r\nb\r\n"),
        (b"..\r\n.\r\n", b".\r\n"),  # a stuffed lone dot
        (b"..a\r\n.\r\n", b".a\r\n"),
        (b"...\r\n.\r\n", b"..\r\n"),
        (b"a\r\n..b\r\n.\r\n", b"a\r\n.b\r\n"),
        (b".a\r\n.\r\n", b"a\r\n"),  # an unstuffed leading dot is dropped too (4.5.2)
        (b"a.\r\n.\r\n", b"a.\r\n"),  # dots elsewhere are content
        (b"a\r\n. \r\n.\r\n", b"a\r\n \r\n"),
        (b"\x00\xff\x80\r\n.\r\n", b"\x00\xff\x80\r\n"),  # 8-bit content passes
    ],
)
def test_end_detection_and_unstuffing(wire: bytes, content: bytes) -> None:
    for chunks in ([wire], bytewise(wire)):
        reader, leftover = read_all(*chunks)
        assert reader.done
        assert leftover == b""
        assert reader.content == content


def test_leftover_after_the_end_marker_is_returned() -> None:
    reader, leftover = read_all(b"a\r\n.\r\nQUIT\r\n")
    assert leftover == b"QUIT\r\n"
    assert reader.feed(b"more") == b"more"  # a finished reader passes bytes through


@pytest.mark.parametrize("incomplete", [b"a\r\n.", b"a\r\n.\r", b"a\r\n", b"a", b".", b".\r",
                                        b"a\r\n.\n", b"\r"])
def test_no_end_yet(incomplete: bytes) -> None:
    reader, leftover = read_all(incomplete)
    assert leftover is None
    assert not reader.done


def test_size_limit_stops_buffering_but_keeps_reading() -> None:
    reader = DataReader(10)
    assert reader.feed(b"0123456789") is None
    assert not reader.too_big
    assert reader.feed(b"X" * 100_000) is None
    assert reader.too_big
    assert reader.content == b""  # nothing past the limit is kept
    assert reader.feed(b"\r\n.\r\nNOOP\r\n") == b"NOOP\r\n"
    assert reader.size == 10 + 100_000 + 2


def test_exactly_at_the_limit_is_fine() -> None:
    reader, _ = read_all(b"12345678\r\n.\r\n", max_size=10)
    assert not reader.too_big
    assert reader.content == b"12345678\r\n"


def test_long_lines_are_accepted() -> None:
    # A decision (see data.py): like Postfix we take lines over 1000 octets.
    line = b"x" * 5000
    reader, _ = read_all(line + b"\r\n.\r\n", max_size=10_000)
    assert reader.content == line + b"\r\n"


def test_message_through_the_server() -> None:
    conn, out = feed(START + b"Subject: hi\r\n\r\n..body\r\n.\r\nNOOP\r\n")
    done = out.of(MessageComplete)
    assert len(done) == 1
    assert isinstance(done[0], MessageComplete)
    assert done[0].data == b"Subject: hi\r\n\r\n.body\r\n"
    assert done[0].via == "DATA"
    assert out.codes == [250, 250, 250, 354, 250, 250]
    assert conn.phase is Phase.GREETED  # the transaction is over


def test_empty_message_right_after_354() -> None:
    _, out = feed(START + b".\r\n")
    done = out.of(MessageComplete)
    assert isinstance(done[0], MessageComplete)
    assert done[0].data == b""


def test_oversized_message_is_552_after_the_end_and_session_goes_on() -> None:
    cfg = config(max_message_size=100)
    body = b"y" * 98 + b"\r\n" + b"z" * 10_000 + b"\r\n.\r\n"
    conn, out = feed(START + body + b"MAIL FROM:<a@b.example>\r\n", config=cfg)
    rejected = out.of(Rejected)
    assert len(rejected) == 1
    assert isinstance(rejected[0], Rejected)
    assert (rejected[0].reply.code, rejected[0].reply.enhanced) == (552, "5.3.4")
    assert not out.of(MessageComplete)
    assert out.codes[-2:] == [552, 250]  # the next transaction starts normally
    assert conn.phase is Phase.MAIL


def test_data_content_is_not_read_before_354() -> None:
    # A client that does not wait for 354 (RFC 2920 3.1 forbids it): when the adapter
    # refuses DATA the content lines are read as commands.
    def refuse_data(conn: SmtpServerConnection, event: SmtpEvent) -> Reply:
        if isinstance(event, DataStart):
            return replies.temporary_failure()
        return auto_reply(conn, event)

    _, out = feed(START + b"NOOP\r\n.\r\n", answer=refuse_data)
    assert out.codes == [250, 250, 250, 451, 250, 500]


def test_eof_inside_data_closes_without_a_message() -> None:
    conn = SmtpServerConnection(CONFIG)
    out = run(conn, [START + b"partial\r\n"], eof=True)
    assert not out.of(MessageComplete)
    assert conn.closed
