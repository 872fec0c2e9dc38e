"""Issue 4 acceptance: every IMAP command, in IMAP4rev1 and after ENABLE IMAP4rev2, over 143
with STARTTLS and over 993, driven by Python's imaplib (imapclient is used in the other files).

One walk-through per (mode, transport): each command's answer is checked for what the mode
requires (e.g. SEARCH vs ESEARCH, RECENT only in rev1)."""

from __future__ import annotations

import imaplib
import time
from collections.abc import Iterator

import pytest

from tests.support.server import PASSWORD, ServerThread

USER = "walk@example.test"
MESSAGE = (b"From: a@remote.example\r\nTo: walk@example.test\r\nSubject: walk\r\n"
           b"Message-ID: <walk@remote.example>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
           b"\r\nbody text to find\r\n")


def connect(server: ServerThread, transport: str) -> imaplib.IMAP4:
    if transport == "993":
        return imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"),
                                 ssl_context=server.client_tls(), timeout=10)
    client = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=10)
    assert "LOGINDISABLED" in client.capabilities
    client.starttls(ssl_context=server.client_tls())
    return client


@pytest.fixture
def client(server: ServerThread, request: pytest.FixtureRequest) -> Iterator[imaplib.IMAP4]:
    server.add_user(USER, quota_bytes=10_000_000)
    imap = connect(server, request.param)
    try:
        yield imap
    finally:
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            imap.shutdown()


def ok(result: tuple[str, list[object]]) -> list[object]:
    typ, data = result
    assert typ == "OK", data
    return data


def cmd(imap: imaplib.IMAP4, name: str, *args: str) -> list[object]:
    """A command imaplib has no method for (MOVE, UID EXPUNGE, ID, SEARCH without parsing)."""
    typ, data = imap.xatom(name, *args)
    assert typ == "OK", data
    return data


def untagged(imap: imaplib.IMAP4, name: str) -> list[bytes]:
    return [d for d in imap.untagged_responses.pop(name, []) if isinstance(d, bytes)]


@pytest.mark.parametrize("client", ["143+STARTTLS", "993"], indirect=True)
@pytest.mark.parametrize("rev2", [False, True], ids=["rev1", "rev2"])
def test_every_command(client: imaplib.IMAP4, rev2: bool) -> None:
    imap = client
    assert "IMAP4REV2" in ok(imap.capability())[0].decode().upper()  # type: ignore[union-attr]
    ok(imap.noop())
    ok(imap.login(USER, PASSWORD))
    if rev2:
        ok(imap.enable("IMAP4rev2"))
        assert untagged(imap, "ENABLED") == [b"IMAP4rev2"]
    cmd(imap, "ID", '("name" "walk")')
    assert untagged(imap, "ID")
    assert b'(("" "/"))' in ok(imap.namespace())[0]  # type: ignore[operator]
    # Mailboxes
    ok(imap.create("Work/Reports"))
    listing = b" ".join(ok(imap.list('""', "*")))  # type: ignore[arg-type]
    for name in (b"INBOX", b"Drafts", b"Sent", b"Trash", b"Junk", b"Archive", b"Work/Reports"):
        assert name in listing
    assert b"\\Sent" in listing
    ok(imap.subscribe("Work/Reports"))
    assert b"Work/Reports" in b" ".join(ok(imap.lsub('""', "Work/*")))  # type: ignore[arg-type]
    ok(imap.unsubscribe("Work/Reports"))
    ok(imap.rename("Work/Reports", "Work/Done"))
    ok(imap.delete("Work/Done"))
    # APPEND, STATUS, SELECT/EXAMINE
    for _ in range(3):
        ok(imap.append("INBOX", "(\\Flagged)", imaplib.Time2Internaldate(time.time()),
                       MESSAGE))
    status = ok(imap.status("INBOX", "(MESSAGES UIDNEXT UNSEEN SIZE DELETED)"))[0]
    assert b"MESSAGES 3" in status  # type: ignore[operator]
    ok(imap.select("INBOX", readonly=True))
    ok(imap.unselect())
    typ, data = imap.select("INBOX")
    assert (typ, data) == ("OK", [b"3"])
    recent = untagged(imap, "RECENT")
    assert recent == ([] if rev2 else [b"3"])  # RFC 9051 dropped RECENT
    # FETCH, STORE, SEARCH (ESEARCH in rev2), COPY, MOVE, EXPUNGE and their UID forms
    fetched = ok(imap.fetch("1:3", "(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE "
                            "BODY.PEEK[HEADER.FIELDS (SUBJECT)] BINARY.SIZE[1])"))
    assert b"Subject: walk" in fetched[0][1]  # type: ignore[index]
    assert b"UID 2" in ok(imap.uid("FETCH", "2", "(FLAGS)"))[0]  # type: ignore[operator]
    ok(imap.store("1", "+FLAGS", "(\\Seen $Work)"))
    ok(imap.uid("STORE", "2", "+FLAGS.SILENT", "(\\Deleted)"))
    cmd(imap, "SEARCH", "TEXT", '"to find"', "KEYWORD", "$Work")
    if rev2:  # RFC 9051 6.4.4: the answer is ESEARCH, never SEARCH
        (esearch,) = untagged(imap, "ESEARCH")
        assert esearch.startswith(b"(TAG ")
        assert esearch.endswith(b" ALL 1")
        assert not untagged(imap, "SEARCH")
    else:
        assert untagged(imap, "SEARCH") == [b"1"]
    cmd(imap, "UID", "SEARCH", "UNDELETED")
    found = untagged(imap, "ESEARCH" if rev2 else "SEARCH")
    assert found[0].endswith(b"1,3" if rev2 else b"1 3")
    ok(imap.copy("1", "Archive"))
    cmd(imap, "MOVE", "3", "Trash")
    ok(imap.uid("COPY", "1", "Archive"))
    cmd(imap, "UID", "EXPUNGE", "2")
    ok(imap.expunge())
    ok(imap.check())
    assert b"STORAGE" in b" ".join(
        x for x in ok(imap.getquotaroot("INBOX"))[1] if isinstance(x, bytes))  # type: ignore[index]
    ok(imap.close())
    status = ok(imap.status("Archive", "(MESSAGES)"))[0]
    assert b"MESSAGES 2" in status  # type: ignore[operator]
