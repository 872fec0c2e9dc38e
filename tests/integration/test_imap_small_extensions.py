"""Small extensions from issue 14 over real sockets: RFC 8514 SAVEDATE, RFC 8437
UNAUTHENTICATE, RFC 8970 PREVIEW, in IMAP4rev1 and after ENABLE IMAP4rev2."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.imap_msg_support import (
    USER,
    Connections,
    RawImap,
    claim_recent,
    fill,
    message,
    status,
)
from tests.support.server import PASSWORD, ServerThread

MODES = ["rev1", "rev2"]
_DATE_TIME = rb'"[ \d]\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}"'


@pytest.fixture
def conns(server: ServerThread) -> Iterator[Connections]:
    """INBOX with two messages, the first delivered long ago (its internal date)."""
    server.add_user(USER)
    fill(server, message(1), when=datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC))
    fill(server, message(2))
    claim_recent(server)
    opened = Connections(server)
    yield opened
    opened.close_all()


def _open(conns: Connections, mode: str, command: str = "SELECT INBOX") -> RawImap:
    raw = conns.raw()
    if mode == "rev2":
        raw.ok("ENABLE IMAP4rev2")
    raw.ok(command)
    return raw


def _search(raw: RawImap, mode: str, criteria: str) -> list[int]:
    """The message numbers SEARCH finds, from ``* SEARCH`` or ``* ESEARCH ... ALL set``."""
    [line] = raw.ok(f"SEARCH {criteria}")
    words = line.split()
    if mode == "rev1":
        return [int(w) for w in words[2:]]
    found: list[int] = []
    if b"ALL" in words:
        for span in words[words.index(b"ALL") + 1].split(b","):
            low, _, high = span.partition(b":")
            found += range(int(low), int(high or low) + 1)
    return found


# -- RFC 8514 SAVEDATE ---------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_savedate_fetch_and_search(conns: Connections, mode: str) -> None:
    raw = _open(conns, mode)
    assert b"SAVEDATE" in raw.ok("CAPABILITY")[0].split()
    lines = raw.ok("FETCH 1:2 (SAVEDATE INTERNALDATE)")
    for line in lines:
        assert re.fullmatch(rb"\* \d FETCH \(SAVEDATE " + _DATE_TIME + rb" INTERNALDATE "
                            + _DATE_TIME + rb"\)\r\n", line), line
    assert b"2001" in lines[0].split(b"INTERNALDATE")[1]
    assert b"2001" not in lines[0].split(b"INTERNALDATE")[0]  # saved now, not in 2001
    today = datetime.now(UTC)
    since = (today - timedelta(days=2)).strftime("%d-%b-%Y")
    after = (today + timedelta(days=2)).strftime("%d-%b-%Y")
    assert _search(raw, mode, f"SAVEDSINCE {since}") == [1, 2]
    assert _search(raw, mode, f"SAVEDBEFORE {since}") == []
    assert _search(raw, mode, f"SAVEDON {today.strftime('%d-%b-%Y')}") in ([1, 2], [])
    assert _search(raw, mode, f"SAVEDBEFORE {after} SINCE 1-Jan-2002") == [2]
    assert _search(raw, mode, "SAVEDATESUPPORTED") == [1, 2]
    assert status(raw.command("SEARCH SAVEDON 31-Feb-2020")).startswith(b"BAD")


def test_savedate_is_the_copy_date(conns: Connections) -> None:
    raw = _open(conns, "rev2")
    raw.ok("COPY 1 Drafts")
    raw.ok("SELECT Drafts")
    [line] = raw.ok("FETCH 1 (SAVEDATE)")
    assert re.fullmatch(rb"\* 1 FETCH \(SAVEDATE " + _DATE_TIME + rb"\)\r\n", line)


# -- RFC 8437 UNAUTHENTICATE ---------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_unauthenticate_returns_to_not_authenticated(
    server: ServerThread, conns: Connections, mode: str
) -> None:
    server.add_user("zoe@example.test")
    raw = _open(conns, mode)
    assert b"UNAUTHENTICATE" in raw.ok("CAPABILITY")[0].split()
    raw.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert raw.ok("UNAUTHENTICATE") == []
    assert status(raw.command("SELECT INBOX")).startswith(b"BAD")
    assert status(raw.command("UNAUTHENTICATE")).startswith(b"BAD")
    capabilities = raw.ok("CAPABILITY")[0].split()  # the pre-login list again
    assert any(c.startswith(b"AUTH=") for c in capabilities)
    raw.ok(f'LOGIN "zoe@example.test" "{PASSWORD}"')
    lines = raw.ok("SELECT INBOX")
    assert b"* 0 EXISTS\r\n" in lines
    assert b"* 0 RECENT\r\n" in lines  # ENABLE IMAP4rev2 was forgotten
    assert raw.ok("UNAUTHENTICATE") == []
    raw.ok(f'LOGIN "{USER}" "{PASSWORD}"')
    raw.ok("SELECT INBOX")
    assert raw.ok("FETCH 1 FLAGS") == [b"* 1 FETCH (FLAGS (\\Deleted))\r\n"]  # not expunged


# -- RFC 8970 PREVIEW ----------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_preview(server: ServerThread, conns: Connections, mode: str) -> None:
    fill(server, message(3, body="Hello   preview\r\n\r\n  world.\r\n"))
    fill(server, message(4, body="W" * 300))
    fill(server, message(5, body="Grüße"))
    html = (b"From: a@example.net\r\nSubject: html\r\nContent-Type: text/html\r\n\r\n"
            b"<html><body><p>Bold <b>news</b></p></body></html>\r\n")
    fill(server, html)
    fill(server, b"From: a@example.net\r\nSubject: empty\r\n\r\n")
    claim_recent(server)
    raw = _open(conns, mode)
    assert b"PREVIEW" in raw.ok("CAPABILITY")[0].split()
    assert raw.ok("FETCH 3 (PREVIEW)") == [b'* 3 FETCH (PREVIEW "Hello preview world.")\r\n']
    assert raw.ok("FETCH 3 (PREVIEW (LAZY) FLAGS)") == [
        b'* 3 FETCH (PREVIEW "Hello preview world." FLAGS ())\r\n']  # no \\Seen set
    [line] = raw.ok("FETCH 4 PREVIEW")
    assert line == b'* 4 FETCH (PREVIEW "' + b"W" * 256 + b'")\r\n'  # at most 256
    [line] = raw.ok("FETCH 5 PREVIEW")
    assert "Grüße".encode() in line
    assert raw.ok("FETCH 6 PREVIEW") == [b'* 6 FETCH (PREVIEW "Bold news")\r\n']
    assert raw.ok("FETCH 7 PREVIEW") == [b'* 7 FETCH (PREVIEW "")\r\n']
    assert status(raw.command("FETCH 3 (PREVIEW (EAGER))")).startswith(b"BAD")
    assert status(raw.command("FETCH 3 (PREVIEW ())")).startswith(b"BAD")


# -- RFC 8474 OBJECTID ---------------------------------------------------------------------

def _object_ids(line: bytes) -> dict[bytes, bytes | None]:
    found = dict(re.findall(rb"(EMAILID|THREADID) \(([A-Za-z0-9_-]+)\)", line))
    return {k: found.get(k) for k in (b"EMAILID", b"THREADID")}


@pytest.mark.parametrize("mode", MODES)
def test_objectid_stable_across_rename_and_move(
    server: ServerThread, conns: Connections, mode: str
) -> None:
    fill(server, message(3, extra="In-Reply-To: <m1@remote.example>\r\n"))
    fill(server, message(4, extra="References: <m1@remote.example> <m3@remote.example>\r\n"))
    raw = _open(conns, mode)
    assert b"OBJECTID" in raw.ok("CAPABILITY")[0].split()
    lines = raw.command("CREATE Projects")
    created = re.fullmatch(rb"t\d+ OK \[MAILBOXID \((F[0-9V]+)\)\] CREATE completed\r\n",
                           lines[-1])
    assert created is not None, lines
    box = created[1]
    assert b"[MAILBOXID (" + box + b")]" in b"".join(raw.ok("EXAMINE Projects"))
    raw.ok("SELECT INBOX")
    before = [_object_ids(line) for line in raw.ok("FETCH 1:4 (EMAILID THREADID)")]
    assert all(ids[b"EMAILID"] and ids[b"THREADID"] for ids in before)
    assert len({ids[b"EMAILID"] for ids in before}) == 4
    threads = [ids[b"THREADID"] for ids in before]
    assert threads[0] == threads[2] == threads[3] != threads[1]  # 3 and 4 answer message 1
    raw.ok("MOVE 1 Projects")
    raw.ok("RENAME Projects Archive/Projects")
    [status_line] = raw.ok('STATUS "Archive/Projects" (MAILBOXID MESSAGES)')
    assert status_line == (b'* STATUS "Archive/Projects" (MAILBOXID (' + box
                           + b") MESSAGES 1)\r\n")
    lines = raw.ok('LIST "" "Archive/Projects" RETURN (STATUS (MAILBOXID))')
    assert lines[1] == b'* STATUS "Archive/Projects" (MAILBOXID (' + box + b"))\r\n"
    raw.ok('SELECT "Archive/Projects"')
    [moved] = raw.ok("UID FETCH 1:* (EMAILID THREADID)")
    assert _object_ids(moved) == before[0]
    raw.ok("COPY 1 Drafts")
    raw.ok("SELECT Drafts")
    assert _object_ids(raw.ok("FETCH 1 (THREADID EMAILID)")[0]) == before[0]
    inbox = _open(conns, mode, "EXAMINE INBOX")
    assert b"[MAILBOXID (" + box + b")]" not in b"".join(inbox.ok("EXAMINE INBOX"))


@pytest.mark.parametrize("mode", MODES)
def test_search_emailid_threadid(server: ServerThread, conns: Connections, mode: str) -> None:
    fill(server, message(3, extra="In-Reply-To: <m1@remote.example>\r\n"))
    raw = _open(conns, mode)
    ids = [_object_ids(line) for line in raw.ok("FETCH 1:3 (EMAILID THREADID)")]
    email, thread = (ids[1][b"EMAILID"] or b"").decode(), (ids[0][b"THREADID"] or b"").decode()
    assert _search(raw, mode, f"EMAILID {email}") == [2]
    assert _search(raw, mode, f"THREADID {thread}") == [1, 3]
    assert _search(raw, mode, f"NOT THREADID {thread}") == [2]
    assert _search(raw, mode, "EMAILID Mnothing") == []
    assert status(raw.command("SEARCH EMAILID (x)")).startswith(b"BAD")
