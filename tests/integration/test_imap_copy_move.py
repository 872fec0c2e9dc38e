"""COPY / MOVE and their UID forms over real sockets (RFC 9051 6.4.7-6.4.8, RFC 4315 COPYUID,
RFC 6851 MOVE)."""

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
    uidvalidity,
)
from tests.support.server import ServerThread


@pytest.fixture
def conns(server: ServerThread) -> Iterator[Connections]:
    """INBOX with five messages, uids 1..5; Archive holds two already (uids 1..2)."""
    server.add_user(USER)
    for n in range(1, 6):
        fill(server, message(n))
    for n in (6, 7):
        fill(server, message(n), mailbox="Archive")
    claim_recent(server)
    claim_recent(server, mailbox="Archive")
    opened = Connections(server)
    yield opened
    opened.close_all()


def test_copy_with_copyuid(server: ServerThread, conns: Connections) -> None:
    valid = uidvalidity(server, "Archive")
    raw = conns.raw()
    raw.ok("SELECT INBOX")
    assert status(raw.command("COPY 2:3,5 Archive")) == (
        b"OK [COPYUID %d 2:3,5 3:5] COPY completed" % valid)
    assert status(raw.command("UID COPY 1,4 Archive")) == (
        b"OK [COPYUID %d 1,4 6:7] UID COPY completed" % valid)
    assert status(raw.command("UID COPY 50:60 Archive")) == b"OK UID COPY completed (no messages)"
    raw.ok("EXAMINE Archive")
    subjects = raw.ok("FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert [line.split(b"Subject: ")[1][:10] for line in subjects] == [
        b"message 6\r", b"message 7\r", b"message 2\r", b"message 3\r", b"message 5\r",
        b"message 1\r", b"message 4\r"]


def test_copy_into_selected_mailbox_announces_exists(conns: Connections) -> None:
    raw = conns.raw()
    raw.ok("SELECT INBOX")
    out = raw.command("COPY 1 INBOX")
    assert out[0] == b"* 6 EXISTS\r\n"
    assert out[-1].startswith(b"t3 OK [COPYUID ")
    assert b" 1 6]" in out[-1]


def test_move_sends_copyuid_then_expunges(server: ServerThread, conns: Connections) -> None:
    valid = uidvalidity(server, "Archive")
    raw = conns.raw()
    raw.ok("SELECT INBOX")
    raw.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")
    assert raw.command("MOVE 2,4 Archive") == [
        b"* OK [COPYUID %d 2,4 3:4] Moved\r\n" % valid,
        b"* 2 EXPUNGE\r\n",
        b"* 3 EXPUNGE\r\n",  # uid 4 was msn 4, msn 3 after the first EXPUNGE
        b"t4 OK MOVE completed\r\n",
    ]
    assert raw.ok("FETCH 1:* (UID)") == [b"* 1 FETCH (UID 1)\r\n", b"* 2 FETCH (UID 3)\r\n",
                                        b"* 3 FETCH (UID 5)\r\n"]
    assert raw.command("UID MOVE 5 Archive")[:2] == [
        b"* OK [COPYUID %d 5 5] Moved\r\n" % valid, b"* 3 EXPUNGE\r\n"]
    raw.ok("EXAMINE Archive")
    # Moved messages are new to Archive: \\Recent, shown (not taken) by EXAMINE
    assert raw.ok("FETCH 3 (UID FLAGS)") == [
        b"* 3 FETCH (UID 3 FLAGS (\\Flagged \\Recent))\r\n"]


def test_imapclient_move_and_copy(conns: Connections) -> None:
    imap = conns.imap()
    imap.select_folder("INBOX")
    assert imap.has_capability("MOVE")
    imap.move([1], "Trash")
    assert imap.search() == [2, 3, 4, 5]
    imap.copy([2, 3], "Trash")
    assert imap.folder_status("Trash", ["MESSAGES"])[b"MESSAGES"] == 3


def test_errors(server: ServerThread, conns: Connections) -> None:
    raw = conns.raw()
    raw.ok("SELECT INBOX")
    assert status(raw.command("COPY 1 Nowhere")).startswith(b"NO [TRYCREATE]")
    assert status(raw.command("MOVE 1 Nowhere")).startswith(b"NO [TRYCREATE]")
    assert status(raw.command("COPY 9 Archive")).startswith(b"BAD")
    raw.ok("EXAMINE INBOX")
    assert status(raw.command("MOVE 1 Archive")).startswith(b"NO [READ-ONLY]")
    assert status(raw.command("COPY 1 Archive")).startswith(b"OK [COPYUID")  # reading is enough


def test_over_quota(server: ServerThread) -> None:
    other = "bob@example.test"
    server.add_user(other, quota_bytes=1500)
    for n in range(1, 4):
        fill(server, message(n), address=other)  # about 300 octets each
    opened = Connections(server)
    try:
        raw = opened.raw(other)
        raw.ok("SELECT INBOX")
        assert status(raw.command("COPY 1:3 Archive")).startswith(b"NO [OVERQUOTA]")
        raw.ok("EXAMINE Archive")
        assert raw.ok("FETCH 1:* UID") == []  # nothing was copied
        raw.ok("SELECT INBOX")
        assert status(raw.command("COPY 1 Archive")).startswith(b"OK [COPYUID")
        assert status(raw.command("MOVE 2:3 Archive")).startswith(b"OK")  # a move adds nothing
    finally:
        opened.close_all()
