"""FETCH over real sockets (RFC 9051 6.4.5, RFC 3501 6.4.5, RFC 3516 BINARY).

Messages of tests/data/mime are filed through the store; imapclient parses what it can,
the raw client checks exact wire forms.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from tests.integration.imap_msg_support import (
    USER,
    Connections,
    claim_recent,
    corpus,
    fill,
    status,
)
from tests.support.server import ServerThread

NAMES = ("01-simple.eml", "03-mixed-attachments.eml", "04-forwarded.eml", "10-rfc2231.eml",
         "16-empty-body.eml", "17-headers-only.eml")
WHEN = datetime(2025, 4, 7, 8, 15, 0, tzinfo=timezone(timedelta(hours=2)))


@pytest.fixture
def box(server: ServerThread) -> ServerThread:
    """A user whose INBOX holds NAMES as uids 1..6, unseen, internal date WHEN."""
    server.add_user(USER)
    for name in NAMES:
        fill(server, corpus(name), when=WHEN)
    claim_recent(server)
    return server


@pytest.fixture
def conns(server: ServerThread) -> Iterator[Connections]:
    """Clients for one test, logged out at its end."""
    opened = Connections(server)
    yield opened
    opened.close_all()


def test_simple_items_and_macros(box: ServerThread, conns: Connections) -> None:
    imap = conns.imap()
    imap.select_folder("INBOX")
    data = imap.fetch(list(range(1, 7)), ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "UID"])
    assert sorted(data) == [1, 2, 3, 4, 5, 6]  # imapclient keys by UID here: msn == uid
    for n, name in enumerate(NAMES, 1):
        assert data[n][b"FLAGS"] == ()
        assert data[n][b"RFC822.SIZE"] == len(corpus(name))
    raw = conns.raw()
    raw.ok("SELECT INBOX")
    assert raw.ok("FETCH 1 FAST") == [
        b'* 1 FETCH (FLAGS () INTERNALDATE " 7-Apr-2025 08:15:00 +0200" RFC822.SIZE %d)\r\n'
        % len(corpus(NAMES[0]))
    ]
    full = raw.ok("FETCH 2 FULL")[0]
    assert b" ENVELOPE (" in full
    assert b" BODY ((" in full
    assert b"BODYSTRUCTURE" not in full
    assert raw.ok("FETCH 2 ALL")[0].count(b"ENVELOPE") == 1


def test_uid_fetch_always_returns_uid(box: ServerThread, conns: Connections) -> None:
    raw = conns.raw()
    raw.ok("SELECT INBOX")
    raw.ok("STORE 1:2 +FLAGS (\\Deleted)")
    raw.ok("EXPUNGE")  # now uid 3 is msn 1
    assert raw.ok("UID FETCH 3:4 (FLAGS)") == [
        b"* 1 FETCH (UID 3 FLAGS ())\r\n", b"* 2 FETCH (UID 4 FLAGS ())\r\n"
    ]
    assert raw.ok("UID FETCH 1:2 FLAGS") == []  # nonexistent uids are ignored
    assert raw.ok("UID FETCH 6:* (UID)") == [b"* 4 FETCH (UID 6)\r\n"]
    assert raw.ok("UID FETCH 900:* (UID)") == [b"* 4 FETCH (UID 6)\r\n"]  # * is the last
    assert status(raw.command("FETCH 5 FLAGS")).startswith(b"BAD")


def test_body_sections_and_partial(box: ServerThread, conns: Connections) -> None:
    data = corpus("01-simple.eml")
    header, _, text = data.partition(b"\r\n\r\n")
    imap = conns.imap()
    imap.select_folder("INBOX", readonly=True)
    got = imap.fetch([1], ["BODY.PEEK[]", "BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]",
                           "BODY.PEEK[1]", "BODY.PEEK[1.MIME]", "BODY.PEEK[]<0.20>",
                           "BODY.PEEK[TEXT]<5.10>", "BODY.PEEK[]<100000.10>", "BODY.PEEK[2]"])[1]
    assert got[b"BODY[]"] == data
    assert got[b"BODY[HEADER]"] == header + b"\r\n\r\n"
    assert got[b"BODY[TEXT]"] == text
    assert got[b"BODY[1]"] == text
    assert got[b"BODY[1.MIME]"] == header + b"\r\n\r\n"  # a single part: its header
    assert got[b"BODY[]<0>"] == data[:20]
    assert got[b"BODY[TEXT]<5>"] == text[5:15]
    assert got[b"BODY[]<100000>"] == b""
    assert got[b"BODY[2]"] == b""  # no such part: empty
    fields = imap.fetch([1], ["BODY.PEEK[HEADER.FIELDS (SUBJECT to)]",
                              "BODY.PEEK[HEADER.FIELDS.NOT (Received Subject)]"])[1]
    subset = fields[b"BODY[HEADER.FIELDS (SUBJECT TO)]"]
    assert subset == b"To: Bob <bob@example.com>\r\nSubject: Lunch on\r\n Thursday?\r\n\r\n"
    rest = fields[b"BODY[HEADER.FIELDS.NOT (RECEIVED SUBJECT)]"]
    assert b"Received:" not in rest
    assert b"Subject:" not in rest
    assert b"From: " in rest


def test_multipart_and_nested_parts(box: ServerThread, conns: Connections) -> None:
    imap = conns.imap()
    imap.select_folder("INBOX", readonly=True)
    got = imap.fetch([2, 3], ["BODY.PEEK[1.1]", "BODY.PEEK[1.2.MIME]", "BODY.PEEK[2.MIME]",
                              "BODY.PEEK[2.HEADER]", "BODY.PEEK[2.TEXT]"])
    mixed, forwarded = got[2], got[3]
    assert mixed[b"BODY[1.1]"].startswith(b"<p>See the photo")
    assert mixed[b"BODY[1.2.MIME]"].startswith(b"Content-Type: image/png")
    assert mixed[b"BODY[2.MIME]"].startswith(b"Content-Type: application/pdf")
    assert mixed[b"BODY[2.HEADER]"] == b""  # not a message/rfc822 part
    inner = forwarded[b"BODY[2.HEADER]"]
    assert b"Subject:" in inner
    assert inner.endswith(b"\r\n\r\n")
    assert forwarded[b"BODY[2.MIME]"].lower().startswith(b"content-type: message/rfc822")
    text = imap.fetch([3], ["BODY.PEEK[2.1]", "BODY.PEEK[2.TEXT]"])[3]
    assert text[b"BODY[2.1]"] in text[b"BODY[2.TEXT]"]


def test_binary(box: ServerThread, conns: Connections) -> None:
    imap = conns.imap()
    imap.select_folder("INBOX", readonly=True)
    got = imap.fetch([2], ["BINARY.PEEK[2]", "BINARY.SIZE[2]", "BINARY.PEEK[2]<0.8>",
                           "BINARY.PEEK[1.1]"])[2]
    pdf = got[b"BINARY[2]"]
    assert pdf.startswith(b"%PDF-1.4\n")
    assert got[b"BINARY.SIZE[2]"] == len(pdf)
    assert got[b"BINARY[2]<0>"] == b"%PDF-1.4"
    assert got[b"BINARY[1.1]"].startswith(b"<p>See the photo")
    raw = conns.raw()
    raw.ok("EXAMINE INBOX")
    png = raw.ok("FETCH 2 (BINARY.PEEK[1.2])")[0]
    assert b"BINARY[1.2] ~{" in png  # NUL octets: a literal8 (RFC 3516 4.2)
    assert b"\x89PNG" in png
    refused = raw.command("FETCH 4 (BINARY.PEEK[3])")  # x-uuencode
    assert status(refused).startswith(b"NO [UNKNOWN-CTE]")
    assert status(raw.command("FETCH 4 (BINARY.SIZE[3])")).startswith(b"NO [UNKNOWN-CTE]")
    assert raw.ok("FETCH 4 (BINARY.SIZE[2])") == [b"* 4 FETCH (BINARY.SIZE[2] 5)\r\n"]


def test_seen_semantics(box: ServerThread, conns: Connections) -> None:
    raw = conns.raw()
    raw.ok("SELECT INBOX")
    assert b"FLAGS" not in raw.ok("FETCH 1 (BODY.PEEK[] RFC822.HEADER BINARY.PEEK[1])")[0]
    assert raw.ok("FETCH 1:6 FLAGS") == [b"* %d FETCH (FLAGS ())\r\n" % n for n in range(1, 7)]
    # non-PEEK: \Seen set and reported in the same response (RFC 9051 6.4.5)
    first = raw.ok("FETCH 1 (BODY[TEXT]<0.5>)")
    assert first == [b'* 1 FETCH (BODY[TEXT]<0> "Hi Bo" FLAGS (\\Seen))\r\n']
    assert raw.ok("FETCH 1 (BODY[TEXT]<0.5>)") == [b'* 1 FETCH (BODY[TEXT]<0> "Hi Bo")\r\n']
    assert raw.ok("FETCH 2 (FLAGS RFC822.TEXT)")[0].startswith(
        b"* 2 FETCH (FLAGS (\\Seen) RFC822.TEXT {")
    assert b"FLAGS (\\Seen)" in raw.ok("UID FETCH 3 (RFC822)")[0]
    assert b"FLAGS (\\Seen)" in raw.ok("FETCH 4 (BINARY[1])")[0]
    assert raw.ok("FETCH 1:6 FLAGS")[4:] == [b"* 5 FETCH (FLAGS ())\r\n",
                                            b"* 6 FETCH (FLAGS ())\r\n"]
    # EXAMINE never sets \Seen
    raw.ok("EXAMINE INBOX")
    assert raw.ok("FETCH 5 (BODY[] RFC822)")[0].count(b"FLAGS") == 0
    raw.ok("SELECT INBOX")
    assert raw.ok("FETCH 5 FLAGS") == [b"* 5 FETCH (FLAGS ())\r\n"]


def test_rfc822_items(box: ServerThread, conns: Connections) -> None:
    data = corpus("04-forwarded.eml")
    header, sep, text = data.partition(b"\r\n\r\n")
    imap = conns.imap()
    imap.select_folder("INBOX", readonly=True)
    got = imap.fetch([3], ["RFC822", "RFC822.HEADER", "RFC822.TEXT", "RFC822.SIZE"])[3]
    assert got[b"RFC822"] == data
    assert got[b"RFC822.HEADER"] == header + sep
    assert got[b"RFC822.TEXT"] == text
    assert got[b"RFC822.SIZE"] == len(data)
    headers_only = imap.fetch([6], ["BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]"])[6]
    assert headers_only[b"BODY[HEADER]"] == corpus("17-headers-only.eml")
    assert headers_only[b"BODY[TEXT]"] == b""


def test_internaldate_from_append(server: ServerThread, conns: Connections) -> None:
    server.add_user(USER)
    imap = conns.imap()
    when = datetime(2024, 2, 29, 23, 59, 1, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))
    imap.append("INBOX", corpus("01-simple.eml"), flags=("\\Flagged",), msg_time=when)
    raw = conns.raw()
    raw.ok("EXAMINE INBOX")
    assert raw.ok("FETCH 1 (INTERNALDATE FLAGS)") == [
        b'* 1 FETCH (INTERNALDATE "29-Feb-2024 23:59:01 -0330" FLAGS (\\Flagged \\Recent))\r\n'
    ]
