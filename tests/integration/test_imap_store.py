"""STORE and UID STORE over real sockets (RFC 9051 6.4.6, 6.4.9; RFC 3501 6.4.6)."""

from __future__ import annotations

from collections.abc import Iterator

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


@pytest.fixture
def conns(server: ServerThread) -> Iterator[Connections]:
    """INBOX with three unflagged messages, uids 1..3, not \\Recent."""
    server.add_user(USER)
    for n in (1, 2, 3):
        fill(server, message(n))
    claim_recent(server)
    opened = Connections(server)
    yield opened
    opened.close_all()


def test_store_variants(conns: Connections) -> None:
    raw = conns.raw()
    raw.ok("SELECT INBOX")
    assert raw.ok("STORE 1:2 +FLAGS (\\Seen $Label1)") == [  # a new keyword: FLAGS first
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)\r\n",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 \\*)]"
        b" Permanent flags\r\n",
        b"* 1 FETCH (FLAGS ($Label1 \\Seen))\r\n", b"* 2 FETCH (FLAGS ($Label1 \\Seen))\r\n"]
    # unchanged messages are reported too, with their current flags
    assert raw.ok("STORE 1:3 +FLAGS (\\Seen)") == [
        b"* 1 FETCH (FLAGS ($Label1 \\Seen))\r\n", b"* 2 FETCH (FLAGS ($Label1 \\Seen))\r\n",
        b"* 3 FETCH (FLAGS (\\Seen))\r\n"]
    assert raw.ok("STORE 2 -FLAGS ($label1)") == [b"* 2 FETCH (FLAGS (\\Seen))\r\n"]
    assert raw.ok("STORE 3 FLAGS (\\Answered \\flagged Todo)") == [
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 Todo)\r\n",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 Todo"
        b" \\*)] Permanent flags\r\n",
        b"* 3 FETCH (FLAGS (Todo \\Answered \\Flagged))\r\n"]  # system flags canonical
    assert raw.ok("STORE 3 FLAGS ()") == [b"* 3 FETCH (FLAGS ())\r\n"]
    assert raw.ok("STORE 1:* +FLAGS.SILENT (\\Deleted)") == []
    assert raw.ok("STORE 1 -FLAGS.SILENT (\\Deleted \\Seen)") == []
    assert raw.ok("STORE 2 FLAGS.SILENT (\\Draft)") == []
    assert raw.ok("FETCH 1:3 FLAGS") == [
        b"* 1 FETCH (FLAGS ($Label1))\r\n", b"* 2 FETCH (FLAGS (\\Draft))\r\n",
        b"* 3 FETCH (FLAGS (\\Deleted))\r\n"]


def test_uid_store_includes_uid(conns: Connections) -> None:
    raw = conns.raw()
    raw.ok("SELECT INBOX")
    assert raw.ok("UID STORE 2:3 +FLAGS (\\Flagged)") == [
        b"* 2 FETCH (UID 2 FLAGS (\\Flagged))\r\n", b"* 3 FETCH (UID 3 FLAGS (\\Flagged))\r\n"]
    assert raw.ok("UID STORE 7:9 +FLAGS (\\Flagged)") == []  # no such uids: nothing, OK
    assert raw.ok("UID STORE 1 +FLAGS.SILENT (\\Flagged)") == []


def test_errors(conns: Connections) -> None:
    raw = conns.raw()
    raw.ok("EXAMINE INBOX")
    assert status(raw.command("STORE 1 +FLAGS (\\Seen)")).startswith(b"NO [READ-ONLY]")
    raw.ok("SELECT INBOX")
    assert status(raw.command("STORE 1 +FLAGS (\\Recent)")).startswith(b"BAD")
    assert status(raw.command("STORE 4 +FLAGS (\\Seen)")).startswith(b"BAD")  # no msn 4
    assert status(raw.command("STORE 1 +FLAGS (\\Bogus)")).startswith((b"BAD", b"NO"))
    assert raw.ok("FETCH 1 FLAGS") == [b"* 1 FETCH (FLAGS ())\r\n"]


def test_rev1_recent_in_store_response(server: ServerThread, conns: Connections) -> None:
    fill(server, message(4))
    raw = conns.raw()
    raw.ok("SELECT INBOX")
    assert raw.ok("STORE 4 +FLAGS (\\Seen)") == [b"* 4 FETCH (FLAGS (\\Recent \\Seen))\r\n"]


def test_imapclient_flags(conns: Connections) -> None:
    imap = conns.imap()
    imap.select_folder("INBOX")
    assert imap.add_flags([1, 2], ["\\Flagged", "custom"]) == {
        1: (b"\\Flagged", b"custom"), 2: (b"\\Flagged", b"custom")}
    assert imap.remove_flags([1], ["custom"]) == {1: (b"\\Flagged",)}
    assert imap.set_flags([3], ["\\Seen"]) == {3: (b"\\Seen",)}
    assert imap.get_flags([1, 2, 3]) == {1: (b"\\Flagged",), 2: (b"\\Flagged", b"custom"),
                                         3: (b"\\Seen",)}
