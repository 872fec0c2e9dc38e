"""imap-tools (PyPI), a widely used high-level client built on imaplib, against posthouse.

imaplib reads capabilities once, before login: imap-tools' ``move()`` uses MOVE only when it
saw it there (issue 14). Without it, it falls back to COPY + STORE \\Deleted + EXPUNGE, which
also expunges what another device had marked \\Deleted. The test proves MOVE is used: a
message another session marked \\Deleted survives the move.
"""

from __future__ import annotations

import ssl

import pytest
from imap_tools import AND, MailBox, MailMessageFlags

from tests.integration.imap_msg_support import USER, fill, message
from tests.support.server import PASSWORD, ServerThread

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


@pytest.fixture
def mailbox(server: ServerThread) -> MailBox:
    server.add_user(USER)
    ctx: ssl.SSLContext = server.client_tls()
    ctx.check_hostname = False
    return MailBox("127.0.0.1", port=server.port("imaps"), ssl_context=ctx)


def test_imap_tools_reads_flags_moves_and_deletes(server: ServerThread,
                                                  mailbox: MailBox) -> None:
    fill(server, message(1, subject="keep"))
    fill(server, message(2, subject="move me"))
    fill(server, message(3, subject="marked elsewhere"), [frozenset({"\\Deleted"})])
    with mailbox.login(USER, PASSWORD, initial_folder="INBOX") as box:
        assert "MOVE" in box.client.capabilities  # seen before login (RFC 9051 allows it)
        folders = {f.name for f in box.folder.list()}
        assert {"INBOX", "Archive", "Junk", "Sent", "Trash", "Drafts"} <= folders
        subjects = [m.subject for m in box.fetch(mark_seen=False)]
        assert subjects == ["keep", "move me", "marked elsewhere"]

        (moved,) = [m.uid for m in box.fetch(AND(subject="move me"), mark_seen=False)]
        box.move(moved, "Archive")
        # MOVE, not COPY + EXPUNGE: the message marked \Deleted elsewhere is still here.
        assert [m.subject for m in box.fetch(mark_seen=False)] == ["keep", "marked elsewhere"]

        (keep,) = [m.uid for m in box.fetch(AND(subject="keep"), mark_seen=False)]
        box.flag(keep, MailMessageFlags.FLAGGED, True)
        assert MailMessageFlags.FLAGGED in next(box.fetch(AND(uid=keep))).flags
        box.delete(keep)
        # delete() is STORE \Deleted + a plain EXPUNGE: both marked messages go.
        assert [m.subject for m in box.fetch(mark_seen=False)] == []

        box.folder.set("Archive")
        assert [m.subject for m in box.fetch(mark_seen=False)] == ["move me"]
