"""APPEND over real sockets (RFC 9051 6.3.12; RFC 4315 APPENDUID; RFC 3502 MULTIAPPEND;
RFC 3516 literal8; RFC 6855 UTF8; RFC 7888 LITERAL+)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from posthouse.config import LimitsConfig, replace_section
from tests.integration.imap_msg_support import (
    USER,
    Connections,
    corpus,
    fill,
    message,
    status,
    uidvalidity,
)
from tests.support.server import ServerThread, make_config


@pytest.fixture
def conns(server: ServerThread) -> Iterator[Connections]:
    """A user with empty mailboxes."""
    server.add_user(USER)
    opened = Connections(server)
    yield opened
    opened.close_all()


def test_append_with_flags_date_and_appenduid(server: ServerThread, conns: Connections) -> None:
    valid = uidvalidity(server, "Drafts")
    data = corpus("03-mixed-attachments.eml")
    raw = conns.raw()
    out = raw.command(b'APPEND Drafts (\\Draft $Todo) " 5-Jan-2025 13:14:15 -0800" {%d+}\r\n'
                      % len(data) + data)
    assert status(out) == b"OK [APPENDUID %d 1] APPEND completed" % valid
    out = raw.command(b"APPEND Drafts {5+}\r\nHi!\r\n")
    assert status(out) == b"OK [APPENDUID %d 2] APPEND completed" % valid
    raw.ok("EXAMINE Drafts")
    first = raw.ok("FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")[0]
    # EXAMINE shows \\Recent without taking it (RFC 3501 6.3.2)
    assert first.startswith(b'* 1 FETCH (FLAGS ($Todo \\Draft \\Recent) INTERNALDATE'
                            b' " 5-Jan-2025 13:14:15 -0800" RFC822.SIZE %d BODY[] {%d}\r\n'
                            % (len(data), len(data)))
    assert data in first  # stored octet for octet
    structure = raw.ok("FETCH 1 (BODYSTRUCTURE)")[0]
    assert b'"mixed"' in structure  # the parse was cached at APPEND
    assert server.inbox(USER, "Drafts") == [data, b"Hi!\r\n"]
    raw.ok("SELECT Drafts")  # IMAP4rev1: appended messages are \Recent for the next SELECT
    assert raw.ok("FETCH 1:2 (FLAGS)")[1] == b"* 2 FETCH (FLAGS (\\Recent))\r\n"


def test_synchronizing_literal_and_imapclient(server: ServerThread, conns: Connections) -> None:
    raw = conns.raw()
    raw.sock.sendall(b"a1 APPEND INBOX {11}\r\n")
    assert raw.response().startswith(b"+ ")
    raw.sock.sendall(b"Hello you\r\n\r\n")
    assert raw.response().startswith(b"a1 OK [APPENDUID ")
    imap = conns.imap()
    when = datetime(2020, 2, 2, 2, 2, 2, tzinfo=timezone(timedelta(hours=5, minutes=45)))
    result = imap.append("INBOX", message(1), flags=[b"\\Seen"], msg_time=when)
    assert result.startswith(b"[APPENDUID ")
    assert result.endswith(b" 2] APPEND completed")
    imap.select_folder("INBOX")
    got = imap.fetch([2], ["FLAGS", "INTERNALDATE"])[2]
    assert b"\\Seen" in got[b"FLAGS"]
    assert got[b"INTERNALDATE"].astimezone(UTC) == when.astimezone(UTC)


def test_append_to_selected_mailbox_announces_exists(server: ServerThread,
                                                      conns: Connections) -> None:
    fill(server, message(1))
    raw = conns.raw()
    raw.ok("SELECT INBOX")
    out = raw.command(b"APPEND INBOX {5+}\r\nHi!\r\n")
    assert out[0] == b"* 2 EXISTS\r\n"
    assert status(out).startswith(b"OK [APPENDUID ")


def test_multiappend_binary_and_utf8(server: ServerThread, conns: Connections) -> None:
    valid = uidvalidity(server, "INBOX")
    raw = conns.raw()
    binary = b"Subject: bin\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\x01\xff\r\n"
    out = raw.command(b"APPEND INBOX (\\Seen) {5+}\r\nOne\r\n (\\Flagged) ~{%d+}\r\n%s"
                      b" UTF8 (~{13+}\r\nSubject: \xc3\xa9\r\n)"
                      % (len(binary), binary))
    assert status(out) == b"OK [APPENDUID %d 1:3] APPEND completed" % valid
    assert server.inbox(USER) == [b"One\r\n", binary, "Subject: é\r\n".encode()]
    raw.ok("EXAMINE INBOX")
    assert raw.ok("FETCH 1:2 FLAGS")[:2] == [b"* 1 FETCH (FLAGS (\\Recent \\Seen))\r\n",
                                             b"* 2 FETCH (FLAGS (\\Flagged \\Recent))\r\n"]
    assert b"~{" in raw.ok("FETCH 2 BINARY.PEEK[]")[0]  # NUL octets come back as literal8


def test_errors(server: ServerThread, conns: Connections) -> None:
    raw = conns.raw()
    assert status(raw.command(b"APPEND Nowhere {5+}\r\nHi!\r\n")).startswith(b"NO [TRYCREATE]")
    assert status(raw.command(b"APPEND INBOX {0+}\r\n")).startswith(b"NO")
    assert status(raw.command(b"APPEND INBOX (\\Recent) {5+}\r\nHi!\r\n")).startswith(b"BAD")
    assert status(raw.command(b"APPEND INBOX (\\Bogus) {5+}\r\nHi!\r\n")).startswith(b"BAD")
    assert status(raw.command(b'APPEND INBOX "31-Feb-2025 00:00:00 +0000" {5+}\r\nHi!\r\n')
                  ).startswith(b"BAD")
    # MULTIAPPEND is all or nothing: the second message fails, the first is removed again
    out = raw.command(b"APPEND INBOX {5+}\r\nHi!\r\n (\\Bogus) {5+}\r\nHi!\r\n")
    assert status(out).startswith(b"BAD")
    assert server.inbox(USER) == []


def test_toobig_and_overquota(tmp_path: Path) -> None:
    cfg = replace_section(make_config(tmp_path / "data"),
                          limits=LimitsConfig(max_message_size=2000))
    server = ServerThread(cfg).start()
    opened = Connections(server)
    try:
        server.add_user(USER)
        server.add_user("bob@example.test", quota_bytes=1000)
        raw = opened.raw()
        refused = status(raw.command(b"APPEND INBOX {3000+}\r\n" + b"x" * 3000))
        assert refused.startswith(b"BAD [TOOBIG]")  # LITERAL+ too big (RFC 7888 4)
        raw = opened.raw()
        assert raw.command(b"APPEND INBOX {3000}")[-1].split(b" ")[1:3] == [b"NO", b"[TOOBIG]"]
        assert status(raw.command(b"APPEND INBOX {1900+}\r\n" + b"y" * 1900)).startswith(b"OK")
        bob = opened.raw("bob@example.test")
        assert status(bob.command(b"APPEND INBOX {900+}\r\n" + b"z" * 900)).startswith(b"OK")
        assert status(bob.command(b"APPEND INBOX {900+}\r\n" + b"z" * 900)).startswith(
            b"NO [OVERQUOTA]")
    finally:
        opened.close_all()
        server.stop()
