"""Every committed data dir of a released schema version (tests/upgrade/v<N>/, made by
make_datadir.py) opens with today's code, migrates if it must, and serves every message,
flag, keyword, alias, queue entry and metadata entry unchanged over real sockets."""

from __future__ import annotations

import hashlib
import imaplib
import json
import poplib
import shutil
import smtplib
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from posthouse.store.sqlite.schema import LATEST_VERSION
from tests.support.server import DOMAIN, ServerThread, make_config

HERE = Path(__file__).parent
DATA_DIRS = sorted(p for p in HERE.glob("v*") if (p / "expected.json").exists())
PY = [sys.executable, "-m", "posthouse"]


@pytest.fixture(params=DATA_DIRS, ids=[p.name for p in DATA_DIRS])
def upgraded(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    data = tmp_path / "data"
    shutil.copytree(request.param, data)  # never the committed copy
    expected = json.loads((data / "expected.json").read_text())
    (data / "expected.json").unlink()
    return data, expected


def test_there_is_a_data_dir_of_the_current_schema() -> None:
    versions = {json.loads((p / "expected.json").read_text())["schema_version"]
                for p in DATA_DIRS}
    assert LATEST_VERSION in versions, "run tests/upgrade/make_datadir.py for the new version"


def imap_mailbox(imap: imaplib.IMAP4, name: str) -> tuple[int, int, list[dict[str, Any]]]:
    """UIDVALIDITY, UIDNEXT and every message's uid, flags and sha256, over IMAP; STATUS's
    counters (kept since schema v9, computed by its migration) must match the messages."""
    _typ, st = imap.status(f'"{name}"', "(UIDVALIDITY UIDNEXT MESSAGES UNSEEN SIZE)")
    words = st[0].decode().split("(")[1].rstrip(")").split()
    status = dict(zip(words[::2], map(int, words[1::2]), strict=True))
    imap.select(f'"{name}"', readonly=True)
    _typ, data = imap.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
    found = []
    for item in data:
        if not isinstance(item, tuple):
            continue
        head = item[0].decode()
        uid = int(head.split("UID ")[1].split()[0])
        flags = head.split("FLAGS (")[1].split(")")[0].split()
        found.append({"uid": uid, "flags": sorted(f for f in flags if f != "\\Recent"),
                      "sha256": hashlib.sha256(item[1]).hexdigest(), "size": len(item[1])})
    counted = (len(found), sum("\\Seen" not in m["flags"] for m in found),
               sum(m["size"] for m in found))
    assert (status["MESSAGES"], status["UNSEEN"], status["SIZE"]) == counted, name
    return status["UIDVALIDITY"], status["UIDNEXT"], found


def test_an_old_data_dir_is_served_unchanged(upgraded: tuple[Path, dict[str, Any]]) -> None:
    data, expected = upgraded
    password = expected["password"]
    with ServerThread(make_config(data, allow_plaintext_on_loopback=True)) as srv:
        conn = sqlite3.connect(data / "posthouse.sqlite3")
        assert conn.execute("PRAGMA user_version").fetchone() == (LATEST_VERSION,)
        conn.close()
        if expected["schema_version"] < LATEST_VERSION:  # migrated after a copy was kept
            assert list((data / "backups").glob(f"pre-v{LATEST_VERSION}-*.sqlite3"))

        by_user: dict[str, dict[str, Any]] = {}
        for key, box in expected["mailboxes"].items():
            user, _, name = key.partition("/")
            by_user.setdefault(user, {})[name] = box
        for user, boxes in by_user.items():
            imap = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
            imap.login(user, password)
            _typ, listed = imap.list()
            names = {line.decode().rsplit(" ", 1)[1].strip('"') for line in listed}
            assert names == set(boxes)
            for name, box in boxes.items():
                uidvalidity, uidnext, messages = imap_mailbox(imap, name)
                assert (uidvalidity, uidnext) == (box["uidvalidity"], box["uidnext"]), name
                assert messages == box["messages"], name
                # every message of the corpus is from carol: SEARCH FROM reads the address
                # rows a migration to schema v10 made from the stored header maps
                _typ, hits = imap.uid("SEARCH", "FROM", "CAROL@ELSEWHERE")
                assert hits[0].split() == [str(m["uid"]).encode() for m in messages], name
            imap.logout()

        # POP3 serves every INBOX message byte for byte
        for user, boxes in by_user.items():
            pop = poplib.POP3("127.0.0.1", srv.port("pop3"))
            pop.user(user)
            pop.pass_(password)
            count, _size = pop.stat()
            inbox = boxes["INBOX"]["messages"]
            assert count == len(inbox)
            for n, want in enumerate(inbox, start=1):
                _resp, lines, _octets = pop.retr(n)
                assert hashlib.sha256(b"\r\n".join(lines) + b"\r\n").hexdigest() == want["sha256"]
            pop.quit()

        # the held queue entry is intact and still held
        queued = srv.call(srv.store.list_queue())
        got = [{"mail_from": q.envelope.mail_from, "held": q.held,
                "recipients": [r.address for r in q.recipients],
                "sha256": hashlib.sha256(srv.call(srv.store.read_blob(q.blob_id))).hexdigest()}
               for q in queued]
        assert got == expected["queue"]
        listing = subprocess.run([*PY, "queue", "list", "--data-dir", str(data)],
                                 capture_output=True, text=True, timeout=120, check=True)
        assert f"{len(expected['queue'])} queued" in listing.stdout

        # every alias still delivers to all its targets
        for alias, targets in expected["aliases"].items():
            with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as smtp:
                smtp.sendmail("x@elsewhere.test", [alias], b"Subject: via alias\r\n\r\nhi\r\n")
            for target in targets:
                assert srv.inbox(target)[-1].endswith(b"Subject: via alias\r\n\r\nhi\r\n")

        # metadata entries, over IMAP GETMETADATA (RFC 5464 4.2)
        user = next(iter(by_user))
        imap = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
        imap.login(user, password)
        imap.xatom("GETMETADATA", '"" /shared/comment')
        _typ, server_md = imap._untagged_response("OK", [None], "METADATA")
        imap.xatom("GETMETADATA", "INBOX /private/comment")
        _typ, inbox_md = imap._untagged_response("OK", [None], "METADATA")
        imap.logout()
        assert server_md == [b'"" (/shared/comment "upgrade corpus")']
        assert inbox_md == [b'"INBOX" (/private/comment "alice\'s inbox")']
    assert DOMAIN in user
