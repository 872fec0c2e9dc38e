"""SEARCH over real sockets: every key, CHARSET, ESEARCH and SEARCHRES (RFC 9051 6.4.4,
RFC 3501 6.4.4, RFC 4731, RFC 5182)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.integration.imap_msg_support import (
    USER,
    Connections,
    claim_recent,
    fill,
    message,
    status,
)
from tests.support.server import ServerThread

MESSAGES = [
    # (message, flags, internal date)
    (message(1, subject="Lunch plans", body="Let's meet at noon.",
             date="Sun, 6 Apr 2025 23:30:00 -0500"),
     {"\\Seen"}, datetime(2025, 4, 7, 9, 0, tzinfo=UTC)),
    (message(2, subject="=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=",
             body="Die Straße ist schön, das Café auch.",
             date="Tue, 8 Apr 2025 08:00:00 +0200"),
     {"\\Flagged", "$Work"}, datetime(2025, 4, 8, 23, 30, tzinfo=timezone(timedelta(hours=3)))),
    (message(3, subject="Quarterly report", body="numbers " * 1000,
             date="Wed, 9 Apr 2025 12:00:00 +0000"),
     {"\\Deleted", "\\Answered", "\\Draft", "\\Seen"}, datetime(2025, 4, 9, 12, tzinfo=UTC)),
    (message(4, subject="Party", body="Bring snacks.", date="Thu, 10 Apr 2025 12:00:00 +0000",
             extra="Cc: Carol <carol@example.net>\r\nBcc: dave@example.net\r\n"
                   "X-Ticket: ABC-123\r\n"),
     {"$work"}, datetime(2025, 4, 10, 12, tzinfo=UTC)),
    (message(5, subject="No date").replace(b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n", b""),
     set(), datetime(2025, 4, 11, 12, tzinfo=UTC)),
]


@pytest.fixture
def conns(server: ServerThread) -> Iterator[Connections]:
    """INBOX with MESSAGES as uids 1..5 (not \\Recent); clients closed at the end."""
    server.add_user(USER)
    for data, flags, when in MESSAGES:
        fill(server, data, [frozenset(flags)], when=when)
    claim_recent(server)
    opened = Connections(server)
    yield opened
    opened.close_all()


CASES = [
    ("ALL", [1, 2, 3, 4, 5]),
    ("SEEN", [1, 3]), ("UNSEEN", [2, 4, 5]), ("FLAGGED", [2]), ("UNFLAGGED", [1, 3, 4, 5]),
    ("ANSWERED", [3]), ("UNANSWERED", [1, 2, 4, 5]), ("DELETED", [3]), ("UNDELETED", [1, 2, 4, 5]),
    ("DRAFT", [3]), ("UNDRAFT", [1, 2, 4, 5]),
    ("KEYWORD $WORK", [2, 4]), ("UNKEYWORD $Work", [1, 3, 5]), ("KEYWORD $none", []),
    ("LARGER 5000", [3]), ("SMALLER 5000", [1, 2, 4, 5]),
    # internal date: its own calendar date (message 2 is 8 April at +0300, 9 April? no: 8th)
    ("ON 8-Apr-2025", [2]), ("BEFORE 8-Apr-2025", [1]), ("SINCE 10-Apr-2025", [4, 5]),
    # Date: header in its own zone (message 1 is 6 April at -0500, 7 April in UTC)
    ("SENTON 6-Apr-2025", [1]), ("SENTBEFORE 8-Apr-2025", [1]), ("SENTSINCE 10-Apr-2025", [4, 5]),
    ("SENTON 11-Apr-2025", [5]),  # no Date: the internal date stands in
    ('FROM "sender2@"', [2]), ("FROM SENDER", [1, 2, 3, 4, 5]),
    ("TO ann@EXAMPLE.test", [1, 2, 3, 4, 5]),
    ("CC carol", [4]), ("BCC dave@example", [4]), ("SUBJECT report", [3]),
    ("SUBJECT köln", [2]),  # decoded from RFC 2047 (sent as UTF-8 by the CHARSET cases)
    ("HEADER X-Ticket abc-1", [4]), ('HEADER X-Ticket ""', [4]), ("HEADER Message-ID <m3@", [3]),
    ("BODY noon", [1]), ("BODY NUMBERS", [3]), ("TEXT Quarterly", [3]), ("TEXT snacks", [4]),
    ("BODY Quarterly", []),
    ("1:2", [1, 2]), ("2,4:*", [2, 4, 5]), ("UID 3:4", [3, 4]), ("UID 9", []), ("9", []),
    ("NOT SEEN", [2, 4, 5]), ("OR FLAGGED DELETED", [2, 3]), ("(SEEN LARGER 5000)", [3]),
    ("OR (KEYWORD $work CC carol) DRAFT", [3, 4]), ("NOT (OR SEEN FLAGGED)", [4, 5]),
    ("SEEN UNSEEN", []), ("UID 1:4 NOT DELETED SUBJECT a", [1, 2, 4]),
]


@pytest.mark.parametrize(("criteria", "expected"), [pytest.param(c, e, id=c) for c, e in CASES])
def test_keys(server: ServerThread, conns: Connections, criteria: str, expected: list[int]) -> None:
    raw = conns.raw()
    raw.ok("EXAMINE INBOX")
    text = criteria.encode()
    if not text.isascii():
        text = b"CHARSET UTF-8 " + text.replace("köln".encode(), b"{%d+}\r\nk\xc3\xb6ln" % 5)
    numbers = [int(n) for n in raw.ok(b"SEARCH " + text)[0].split()[2:]]
    assert numbers == expected
    uids = [int(n) for n in raw.ok(b"UID SEARCH " + text)[0].split()[2:]]
    assert uids == expected  # msn == uid in this mailbox


def test_non_ascii_with_imapclient(conns: Connections) -> None:
    imap = conns.imap()
    imap.select_folder("INBOX", readonly=True)
    assert imap.search(["BODY", "straße"], charset="UTF-8") == [2]
    assert imap.search(["TEXT", "CAFÉ"], charset="UTF-8") == [2]
    assert imap.search(["SUBJECT", "Grüße"], charset="UTF-8") == [2]
    assert imap.search(["NOT", "SUBJECT", "grüsse"], charset="UTF-8") == [1, 2, 3, 4, 5]
    assert imap.search(["BODY", "SCHÖN"], charset="utf-8") == [2]
    assert imap.search(["SEEN"], charset="US-ASCII") == [1, 3]


def test_bad_charset(conns: Connections) -> None:
    raw = conns.raw()
    raw.ok("EXAMINE INBOX")
    assert status(raw.command("SEARCH CHARSET KOI8-R ALL")) == (
        b"NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset")


def test_recent_new_old_in_rev1(server: ServerThread, conns: Connections) -> None:
    fill(server, message(6, subject="fresh"))
    raw = conns.raw()
    raw.ok("SELECT INBOX")  # this session claims uid 6 as \Recent
    assert raw.ok("SEARCH RECENT") == [b"* SEARCH 6\r\n"]
    assert raw.ok("SEARCH NEW") == [b"* SEARCH 6\r\n"]
    raw.ok("STORE 6 +FLAGS (\\Seen)")
    assert raw.ok("SEARCH NEW") == [b"* SEARCH\r\n"]
    assert raw.ok("SEARCH OLD") == [b"* SEARCH 1 2 3 4 5\r\n"]
    other = conns.raw()
    other.ok("SELECT INBOX")
    assert other.ok("SEARCH RECENT") == [b"* SEARCH\r\n"]


def test_esearch_shapes(conns: Connections) -> None:
    raw = conns.raw()
    raw.ok("EXAMINE INBOX")
    assert raw.ok("SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN") == [
        b'* ESEARCH (TAG "t3") MIN 2 MAX 5 ALL 2,4:5 COUNT 3\r\n']
    assert raw.ok("UID SEARCH RETURN () SEEN") == [b'* ESEARCH (TAG "t4") UID ALL 1,3\r\n']
    assert raw.ok("SEARCH RETURN (COUNT) KEYWORD nothing") == [
        b'* ESEARCH (TAG "t5") COUNT 0\r\n']
    assert raw.ok("SEARCH RETURN (MIN) KEYWORD nothing") == [b'* ESEARCH (TAG "t6")\r\n']
    rev2 = conns.raw()
    rev2.ok("ENABLE IMAP4rev2")
    rev2.ok("EXAMINE INBOX")
    assert rev2.ok("SEARCH SEEN")[-1] == b'* ESEARCH (TAG "t4") ALL 1,3\r\n'
    assert rev2.ok("UID SEARCH DRAFT")[-1] == b'* ESEARCH (TAG "t5") UID ALL 3\r\n'
    assert rev2.ok("SEARCH KEYWORD nothing")[-1] == b'* ESEARCH (TAG "t6")\r\n'


def test_searchres(conns: Connections) -> None:
    raw = conns.raw()
    raw.ok("SELECT INBOX")
    assert raw.ok("SEARCH $") == [b"* SEARCH\r\n"]  # nothing saved yet: empty
    assert raw.ok("SEARCH RETURN (SAVE) UNSEEN") == []  # SAVE alone answers nothing
    assert raw.ok("FETCH $ (UID)") == [b"* %d FETCH (UID %d)\r\n" % (n, n) for n in (2, 4, 5)]
    assert raw.ok('SEARCH $ SUBJECT "no date"') == [b"* SEARCH 5\r\n"]
    assert raw.ok("UID SEARCH OR $ SEEN") == [b"* SEARCH 1 2 3 4 5\r\n"]
    raw.ok("SEARCH RETURN (SAVE MAX) UNSEEN")  # only the MAX is kept
    assert raw.ok("SEARCH $") == [b"* SEARCH 5\r\n"]
    raw.ok("SEARCH RETURN (SAVE MIN COUNT) FLAGGED")
    assert raw.ok("UID SEARCH UID $") == [b"* SEARCH 2\r\n"]
    # a result saved by msn refers to messages, not numbers: it follows an expunge
    raw.ok("SEARCH RETURN (SAVE) OR UID 4 UID 5")
    raw.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    assert raw.ok("EXPUNGE") == [b"* 3 EXPUNGE\r\n"]
    assert raw.ok("FETCH $ (UID)") == [b"* 3 FETCH (UID 4)\r\n", b"* 4 FETCH (UID 5)\r\n"]
    assert raw.ok("STORE $ +FLAGS.SILENT (\\Flagged)") == []
    assert raw.ok("SEARCH FLAGGED") == [b"* SEARCH 2 3 4\r\n"]
