"""``posthouse store migrate --to postgresql://...``: a SQLite data dir with mail, flags and
keywords set over IMAP, expunges, METADATA and a queued message is copied into PostgreSQL;
a server on the PostgreSQL store then serves every message, flag, uid, modseq and date
unchanged over IMAP (imaplib over a socket, before and after); and ``--from`` brings it back
into an empty SQLite data dir, served unchanged again. Refused while a server runs on the
data dir, and into a store that is not empty.
"""

from __future__ import annotations

import dataclasses
import imaplib
import re
import smtplib
from pathlib import Path

import pytest

from posthouse.cli.main import main
from posthouse.config import StoreConfig
from posthouse.store.models import OutboundEnvelope, OutboundRecipient
from tests.support.mail import make_message
from tests.support.pgdb import PgTestDatabase
from tests.support.server import PASSWORD, ServerThread, make_config

USER = "mia@example.test"
MAILBOXES = ("INBOX", "Projects")
for _name in ("SETMETADATA", "GETMETADATA"):  # RFC 5464; imaplib does not know them
    imaplib.Commands.setdefault(_name, ("AUTH", "SELECTED"))


def fill(server: ServerThread) -> None:
    """Mail over SMTP, then flags, keywords, a copy and an expunge over IMAP."""
    server.add_user(USER)
    for n in range(1, 6):
        with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as client:
            client.sendmail("sender@remote.example", [USER], make_message(n))
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"), ssl_context=server.client_tls())
    try:
        imap.login(USER, PASSWORD)
        assert imap.create("Projects")[0] == "OK"
        assert imap.select("INBOX")[0] == "OK"
        assert imap.uid("STORE", "1", "+FLAGS", "(\\Flagged $Label1)")[0] == "OK"
        assert imap.uid("STORE", "2", "+FLAGS", "(\\Seen \\Answered Project-X)")[0] == "OK"
        assert imap.uid("COPY", "1:2", "Projects")[0] == "OK"
        assert imap.uid("STORE", "3", "+FLAGS", "(\\Deleted)")[0] == "OK"
        assert imap.expunge()[0] == "OK"  # a tombstone at uid 3
        typ, _ = imap._simple_command(  # RFC 5464 SETMETADATA
            "SETMETADATA", "INBOX", "(/private/comment \"kept across the move\")")
        assert typ == "OK"
    finally:
        imap.logout()
    queued = server.call(server.store.enqueue(
        b"From: mia@example.test\r\nSubject: out\r\n\r\nout\r\n",
        OutboundEnvelope(USER, (OutboundRecipient("x@peer.test"),))))
    server.call(server.store.set_held(queued, True))  # no attempt before or after the move


def snapshot(server: ServerThread) -> dict[str, object]:
    """What an IMAP client sees: per mailbox its STATUS, every message's uid, flags, modseq,
    internal date, size and bytes, and what SEARCH FROM and TO find; the metadata entry."""
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"), ssl_context=server.client_tls())
    seen: dict[str, object] = {}
    try:
        imap.login(USER, PASSWORD)
        assert imap.enable("CONDSTORE")[0] == "OK"
        for box in MAILBOXES:
            typ, status = imap.status(
                box, "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ UNSEEN)")
            assert typ == "OK"
            seen[f"{box} status"] = status
            assert imap.select(box, readonly=True)[0] == "OK"
            typ, data = imap.uid(
                "FETCH", "1:*", "(UID FLAGS MODSEQ INTERNALDATE RFC822.SIZE BODY.PEEK[])")
            assert typ == "OK"
            seen[box] = [part if isinstance(part, bytes) else (part[0], part[1])
                         for part in data]
            # the address rows of SEARCH FROM/TO/CC/BCC are made on every path of the copy
            seen[f"{box} from"] = imap.uid("SEARCH", "FROM", '"R <SENDER@"')
            seen[f"{box} to"] = imap.uid("SEARCH", "TO", "r@")
            assert seen[f"{box} from"] == seen[f"{box} to"] == imap.uid("SEARCH", "ALL")
        typ, meta = imap._simple_command("GETMETADATA", "INBOX", "/private/comment")
        assert typ == "OK"
        seen["metadata"] = imap._untagged_response(typ, meta, "METADATA")[1]
    finally:
        imap.logout()
    seen["queue"] = [(q.id, q.envelope.mail_from, [r.address for r in q.recipients], q.size,
                      q.held, q.created, q.next_attempt)
                     for q in server.call(server.store.list_queue())]
    return seen


def test_migrate_sqlite_to_postgres_serves_everything_unchanged(
        pg_database: PgTestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    url = pg_database.fresh_url()
    migrate = ["store", "migrate", "--to", url, "--data-dir", str(data)]
    cfg = make_config(data)
    server = ServerThread(cfg).start()
    try:
        fill(server)
        before = snapshot(server)
        # refused while a server runs on the data dir
        assert main(migrate) == 1
        assert "in use by a running posthouse server" in capsys.readouterr().err
    finally:
        server.stop()
    assert main(migrate) == 0
    out = capsys.readouterr().out
    assert "verified" in out, out
    assert re.search(r"\b6 messages\b", out) is not None, out  # 4 in INBOX, 2 in Projects
    assert "1 expunged" in out, out
    on_pg = ServerThread(dataclasses.replace(cfg, store=StoreConfig(url=url))).start()
    try:
        after = snapshot(on_pg)
        assert after == before
        # and the copy is a live store: a new message gets the next uid, not a reused one
        with smtplib.SMTP("127.0.0.1", on_pg.port("smtp"), timeout=30) as client:
            client.sendmail("sender@remote.example", [USER], make_message(9))
        imap = imaplib.IMAP4_SSL("127.0.0.1", on_pg.port("imaps"),
                                 ssl_context=on_pg.client_tls())
        try:
            imap.login(USER, PASSWORD)
            imap.select("INBOX", readonly=True)
            assert imap.uid("SEARCH", "ALL") == ("OK", [b"1 2 4 5 6"])
        finally:
            imap.logout()
        on_postgres = snapshot(on_pg)
    finally:
        on_pg.stop()
    # a second run finds the target in use
    assert main(migrate) == 1
    assert "not empty" in capsys.readouterr().err
    # and back: into an empty SQLite data dir, served unchanged from there
    back = tmp_path / "back"
    assert main(["store", "migrate", "--from", url, "--data-dir", str(back)]) == 0
    out = capsys.readouterr().out
    assert "verified" in out, out
    assert re.search(r"\b7 messages\b", out) is not None, out
    on_sqlite = ServerThread(make_config(back)).start()
    try:
        assert snapshot(on_sqlite) == on_postgres
    finally:
        on_sqlite.stop()
    # not into a data dir that holds a store
    assert main(["store", "migrate", "--from", url, "--data-dir", str(data)]) == 1
    assert "already holds a store" in capsys.readouterr().err
