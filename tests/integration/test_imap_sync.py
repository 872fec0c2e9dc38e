"""Two sessions on one mailbox, and EXPUNGE arithmetic (RFC 9051 7.5.1, 6.4.3; RFC 4315 2.1).

An expunge by one session reaches the other only in a response to a command that allows
it: never while answering FETCH, STORE or SEARCH by sequence number, which keep the numbers
the client knows; flag changes and new messages are announced after any command.
"""

from __future__ import annotations

from collections.abc import Iterator

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
from tests.support.server import ServerThread


@pytest.fixture
def conns(server: ServerThread) -> Iterator[Connections]:
    """INBOX with ten messages, uids 1..10, not \\Recent."""
    server.add_user(USER)
    for n in range(1, 11):
        fill(server, message(n))
    claim_recent(server)
    opened = Connections(server)
    yield opened
    opened.close_all()


def _two(conns: Connections) -> tuple[RawImap, RawImap]:
    a, b = conns.raw(), conns.raw()
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    return a, b


def test_expunge_numbers(conns: Connections) -> None:
    a, _ = _two(conns)
    a.ok("STORE 2:3,5,9 +FLAGS.SILENT (\\Deleted)")
    assert a.ok("EXPUNGE") == [b"* 2 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n", b"* 3 EXPUNGE\r\n",
                               b"* 6 EXPUNGE\r\n"]
    assert a.ok("FETCH 1:* (UID)") == [b"* %d FETCH (UID %d)\r\n" % (i, u)
                                      for i, u in enumerate((1, 4, 6, 7, 8, 10), 1)]
    assert a.ok("EXPUNGE") == []


def test_uid_expunge_only_touches_its_set(conns: Connections) -> None:
    a, _ = _two(conns)
    a.ok("STORE 3,5,7 +FLAGS.SILENT (\\Deleted)")
    assert a.ok("UID EXPUNGE 4:5,7") == [b"* 5 EXPUNGE\r\n", b"* 6 EXPUNGE\r\n"]
    assert a.ok("UID EXPUNGE 20:30") == []
    assert a.ok("SEARCH DELETED") == [b"* SEARCH 3\r\n"]
    a.ok("EXAMINE INBOX")
    assert status(a.command("EXPUNGE")).startswith(b"NO [READ-ONLY]")
    assert status(a.command("UID EXPUNGE 3")).startswith(b"NO [READ-ONLY]")


def test_expunge_held_back_during_fetch_store_search(conns: Connections) -> None:
    a, b = _two(conns)
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert a.ok("EXPUNGE") == [b"* 2 EXPUNGE\r\n"]
    # B still numbers ten messages: msn 2 is the expunged one
    out = b.command("FETCH 1:3 (UID)")  # msn 2 is still readable to B (RFC 2180 4.1.1)
    assert out[:-1] == [b"* 1 FETCH (UID 1)\r\n", b"* 2 FETCH (UID 2)\r\n",
                        b"* 3 FETCH (UID 3)\r\n"]
    assert status(out) == b"OK FETCH completed"
    assert b.ok("STORE 3 +FLAGS (\\Seen)") == [b"* 3 FETCH (FLAGS (\\Seen))\r\n"]
    assert b.ok("SEARCH UNSEEN 1:4") == [b"* SEARCH 1 4\r\n"]  # the gone one does not match
    assert b.ok("SEARCH RETURN (COUNT) ALL") == [b'* ESEARCH (TAG "t6") COUNT 9\r\n']
    assert b.ok("FETCH 10 (UID)") == [b"* 10 FETCH (UID 10)\r\n"]
    assert b.ok("NOOP") == [b"* 2 EXPUNGE\r\n"]
    assert b.ok("FETCH 9 (UID)") == [b"* 9 FETCH (UID 10)\r\n"]


def test_expunge_sent_during_uid_commands(conns: Connections) -> None:
    a, b = _two(conns)
    a.ok("STORE 4 +FLAGS.SILENT (\\Deleted)")
    a.ok("EXPUNGE")
    out = b.command("UID FETCH 3:5 (FLAGS)")  # RFC 9051 7.5.1: allowed during UID commands
    assert b"* 4 EXPUNGE\r\n" in out
    assert status(out) == b"OK UID FETCH completed"
    assert b"* 3 FETCH (UID 3 FLAGS ())\r\n" in out


def test_flags_and_new_mail_reach_the_other_session(server: ServerThread,
                                                    conns: Connections) -> None:
    a, b = _two(conns)
    a.ok("STORE 1 +FLAGS (\\Flagged)")
    a.ok("FETCH 2 (BODY[TEXT])")  # sets \Seen for A; B learns it as a flag change
    fill(server, message(11))
    out = b.ok("NOOP")
    assert out[:2] == [b"* 11 EXISTS\r\n", b"* 1 RECENT\r\n"]
    assert b"* 1 FETCH (UID 1 FLAGS (\\Flagged))\r\n" in out
    assert b"* 2 FETCH (UID 2 FLAGS (\\Seen))\r\n" in out
    assert b.ok("NOOP") == []
    # A learns of uid 11 too; it is \Recent only for the session that saw it first
    assert a.ok("NOOP") == [b"* 11 EXISTS\r\n", b"* 0 RECENT\r\n"]
    # a session's own changes are not echoed back to it
    b.ok("STORE 5 +FLAGS.SILENT (\\Answered)")
    assert b.ok("NOOP") == []
    assert a.ok("NOOP") == [b"* 5 FETCH (UID 5 FLAGS (\\Answered))\r\n"]


def test_imapclient_two_sessions(conns: Connections) -> None:
    one, two = conns.imap(), conns.imap()
    one.select_folder("INBOX")
    two.select_folder("INBOX")
    one.delete_messages([1, 2])
    assert one.expunge() is not None
    assert two.noop()[1] == [(1, b"EXPUNGE"), (1, b"EXPUNGE")]
    assert two.search() == [3, 4, 5, 6, 7, 8, 9, 10]
