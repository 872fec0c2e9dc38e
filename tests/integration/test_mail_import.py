"""``posthouse import|export maildir|mbox`` and ``user export|import`` against a running
server: what comes in is read back over IMAP, round trips are exact, bad input is named and
the rest imported, and a second run adds nothing."""

from __future__ import annotations

import imaplib
import json
import os
import re
from pathlib import Path

import pytest

from posthouse.cli.main import main
from tests.support.peers import LOOPBACK
from tests.support.server import PASSWORD, ServerThread, make_config

ANN = "ann@example.test"


def _msg(i: int, body: str = "") -> bytes:
    return (f"From: a{i}@example.org\r\nTo: {ANN}\r\nSubject: m{i}\r\n"
            f"Date: Tue, 5 Mar 2024 09:0{i % 10}:00 +0000\r\n\r\nline {i}\r\n{body}").encode()


QUOTING = "From here on.\r\n>From quoted once.\r\n>>From quoted twice.\r\nFrom the end\r\n"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _imap(server: ServerThread) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL(LOOPBACK, server.port("imaps"), ssl_context=server.client_tls())
    client.login(ANN, PASSWORD)
    return client


def _fetch_all(client: imaplib.IMAP4, box: str) -> list[tuple[bytes, frozenset[str]]]:
    assert client.select(box, readonly=True)[0] == "OK"
    _typ, rows = client.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
    out = []
    for row in rows:
        if isinstance(row, tuple):
            flags = re.search(rb"FLAGS \(([^)]*)\)", row[0])
            assert flags is not None
            out.append((row[1], frozenset(flags[1].decode().split()) - {"\\Recent"}))
    return out


@pytest.fixture
def ann(server: ServerThread) -> ServerThread:
    server.add_user(ANN)
    return server


def _data(server: ServerThread) -> list[str]:
    return ["--data-dir", str(server.cfg.data_path)]


def test_mbox_round_trip_both_formats(ann: ServerThread, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    client = _imap(ann)
    client.create("Lists/Python")
    for i, box in ((1, "INBOX"), (2, "INBOX"), (3, "Lists/Python")):
        assert client.append(box, r"(\Seen $Work)" if i == 1 else "", None,
                             _msg(i, QUOTING))[0] == "OK"
    client.select("INBOX")
    client.uid("STORE", "1", "+FLAGS", r"(\Answered \Flagged)")
    original = {box: _fetch_all(client, box) for box in ("INBOX", "Lists/Python")}
    client.logout()

    code, out, err = _run(capsys, "export", "mbox", ANN, str(tmp_path / "out"), *_data(ann))
    assert code == 0, err
    assert "exported 3 messages" in out
    inbox = (tmp_path / "out" / "INBOX").read_bytes()
    # RFC 4155 / mboxrd: every >*From line got one more >, Unix line ends
    assert b"\n>From here on.\n>>From quoted once.\n>>>From quoted twice.\n" in inbox
    assert b"\r\n" not in inbox
    assert (tmp_path / "out" / "Lists.sbd" / "Python").is_file()

    # into another mailbox tree: identical bytes and flags
    code, out, err = _run(capsys, "import", "mbox", ANN, str(tmp_path / "out"),
                          "--mailbox", "Copy", *_data(ann))
    assert code == 0, err
    assert "imported 3 messages" in out
    client = _imap(ann)
    assert _fetch_all(client, "Copy") == original["INBOX"]
    assert _fetch_all(client, "Copy/Lists/Python") == original["Lists/Python"]
    # parsed as any delivery is (ENVELOPE, SEARCH), though another process imported them
    client.select("Copy")
    assert client.uid("SEARCH", "SUBJECT", "m2")[1] == [b"2"]
    _typ, env = client.uid("FETCH", "1", "(ENVELOPE)")
    assert b'"m1"' in env[0]
    client.logout()
    # the same again: nothing new
    code, out, _ = _run(capsys, "import", "mbox", ANN, str(tmp_path / "out"), "--mailbox",
                        "Copy", *_data(ann))
    assert (code, "imported 0 messages" in out, "3 already present" in out) == (0, True, True)

    # mboxo unquotes only ">From ": ">>From" stays as written
    mboxo = (b"From someone Tue Mar  5 09:00:00 2024\nSubject: o\n\n>From a\n>>From b\n\n")
    (tmp_path / "o.mbox").write_bytes(mboxo)
    code, _, err = _run(capsys, "import", "mbox", ANN, str(tmp_path / "o.mbox"), "--format",
                        "mboxo", "--mailbox", "Old", *_data(ann))
    assert code == 0, err
    client = _imap(ann)
    ((data, _),) = _fetch_all(client, "Old")
    assert data == b"Subject: o\r\n\r\nFrom a\r\n>>From b\r\n"
    _typ, internal = client.uid("FETCH", "1", "(INTERNALDATE)")
    assert b'" 5-Mar-2024 09:00:00 +0000"' in internal[0]  # from the From_ line
    client.logout()


def test_export_maildir_and_import_it_back(ann: ServerThread, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    client = _imap(ann)
    client.create("&AMQ-rger")
    for i in range(1, 4):
        client.append("INBOX", r"(\Seen Important)" if i == 2 else "", None, _msg(i))
    client.append("&AMQ-rger", r"(\Flagged)", None, _msg(7))
    client.subscribe("&AMQ-rger")
    original = _fetch_all(client, "INBOX")
    client.logout()
    dest = tmp_path / "Maildir"
    code, _, err = _run(capsys, "export", "maildir", ANN, str(dest), *_data(ann))
    assert code == 0, err
    assert (dest / ".&AMQ-rger" / "maildirfolder").exists()
    assert (dest / "dovecot-keywords").read_text() == "0 Important\n"
    uidlist = (dest / "dovecot-uidlist").read_text().splitlines()
    assert re.fullmatch(r"3 V\d+ N4 G[0-9a-f]{32}", uidlist[0])
    assert [line.split()[0] for line in uidlist[1:]] == ["1", "2", "3"]
    names = sorted(p.name for p in (dest / "cur").iterdir())
    assert names[1].endswith(":2,Sa")
    # refuses to write into a non-empty directory
    code, _, err = _run(capsys, "export", "maildir", ANN, str(dest), *_data(ann))
    assert code == 1
    assert "not empty" in err

    ann.add_user("bob@example.test")
    code, out, err = _run(capsys, "import", "maildir", "bob@example.test", str(dest),
                          *_data(ann))
    assert code == 0, err
    assert "imported 4 messages" in out
    bob = imaplib.IMAP4_SSL(LOOPBACK, ann.port("imaps"), ssl_context=ann.client_tls())
    bob.login("bob@example.test", PASSWORD)
    assert _fetch_all(bob, "INBOX") == original
    _typ, status = bob.status("INBOX", "(UIDNEXT)")
    assert b"UIDNEXT 4" in status[0]
    _typ, subs = bob.lsub('""', "*")
    assert any(b"&AMQ-rger" in s for s in subs if isinstance(s, bytes))
    bob.logout()

    # --mailbox: the whole tree below one mailbox (INBOX becomes that mailbox)
    code, out, err = _run(capsys, "import", "maildir", ANN, str(dest), "--mailbox", "Restored",
                          *_data(ann))
    assert code == 0, err
    client = _imap(ann)
    assert _fetch_all(client, "Restored") == original
    assert len(_fetch_all(client, "Restored/&AMQ-rger")) == 1
    client.logout()


def test_broken_inputs_are_named_and_the_rest_imported(
    ann: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    (md / "cur" / "1.good:2,S").write_bytes(_msg(1).replace(b"\r\n", b"\n"))
    (md / "cur" / "2.badflag:2,S!").write_bytes(_msg(2))
    (md / "cur" / "3.badinfo:9,zz").write_bytes(_msg(3))
    (md / "cur" / "4.keyword:2,c").write_bytes(_msg(4))  # no dovecot-keywords for c
    (md / "cur" / "5.dir").mkdir()
    unreadable = md / "new" / "6.secret"
    unreadable.write_bytes(_msg(6))
    (md / ".bad&name").mkdir()
    (md / ".bad&name" / "cur").mkdir()
    (md / "dovecot-uidlist").write_text("3 Vnope\n")
    if os.geteuid() == 0:
        unreadable.unlink()
        unreadable.symlink_to(tmp_path / "missing")  # root reads everything: dangle instead
    else:
        unreadable.chmod(0)
    code, out, err = _run(capsys, "import", "maildir", ANN, str(md), *_data(ann))
    assert code == 1
    assert "imported 4 messages" in out
    assert "problem(s)" in out
    for name, what in (("2.badflag:2,S!", "unknown flag letter '!'"),
                       ("3.badinfo:9,zz", "unknown Maildir info"),
                       ("4.keyword:2,c", "keyword letter 'c'"),
                       ("5.dir", "not a regular file"),
                       ("6.secret", "unreadable"),
                       (".bad&name", "folder skipped"),
                       ("dovecot-uidlist", "unreadable header")):
        assert re.search(re.escape(name) + ".*" + re.escape(what), err), (name, err)
    client = _imap(ann)
    got = _fetch_all(client, "INBOX")
    assert sorted(f for _, f in got) == sorted(
        [frozenset({"\\Seen"}), frozenset({"\\Seen"}), frozenset(), frozenset()])
    assert _msg(1) in [d for d, _ in got]  # bare LF made CRLF
    client.logout()

    mbox = tmp_path / "broken.mbox"
    mbox.write_bytes(
        b"garbage before any From_ line\n\n"
        b"From a@example.org Tue Mar  5 09:00:00 2024\nSubject: one\n\nFrom the body\n\n"
        b"From broken-line-without-date\nSubject: two\nStatus: RO\nX-Status: F\n\nbody\n\n"
        b"From c@example.org Tue Mar  5 10:00:00 2024\nSubject: three\n\nok\n")
    code, out, err = _run(capsys, "import", "mbox", ANN, str(mbox), "--mailbox", "B",
                          *_data(ann))
    assert code == 1
    assert "imported 3 messages" in out
    assert "message 0 (line 1): text before the first From_ line" in err
    assert "message 2 (line 8): From_ line without a readable date" in err
    client = _imap(ann)
    got = _fetch_all(client, "B")
    assert [d.split(b"\r\n")[0] for d, _ in got] == [b"Subject: one", b"Subject: two",
                                                      b"Subject: three"]
    assert got[0][0].endswith(b"\r\nFrom the body\r\n")  # an unquoted From line stays text
    assert got[1][1] == frozenset({"\\Seen", "\\Flagged"})
    assert b"Status" not in got[1][0]
    client.logout()


def test_user_export_import_rebuilds_a_server(
    ann: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _data(ann)
    assert main(["domain", "add", "other.test", *data]) == 0
    ann.add_user("keep@other.test", pop3_keep=True, quota_bytes=5 << 20)
    assert main(["alias", "add", "team@example.test", ANN, "keep@other.test", *data]) == 0
    assert main(["metadata", "set", "/shared/comment", "hello", *data]) == 0
    assert main(["user", "set-role", ANN, "admin", *data]) == 0
    assert main(["user", "set", "keep@other.test", "--disabled", "yes", *data]) == 0
    capsys.readouterr()
    dump = tmp_path / "accounts.json"
    code, out, err = _run(capsys, "user", "export", str(dump), *data)
    assert code == 0, err
    assert dump.stat().st_mode & 0o077 == 0  # password hashes: owner only
    exported = json.loads(dump.read_text())
    assert {u["address"] for u in exported["users"]} == {ANN, "keep@other.test"}

    fresh = tmp_path / "fresh"
    assert main(["init", "--domain", "example.test", "--data-dir", str(fresh)]) == 0
    code, out, err = _run(capsys, "user", "import", str(dump), "--data-dir", str(fresh))
    assert code == 0, err
    assert "2 users" in out
    # idempotent: the same file again changes nothing and succeeds
    code, out, err = _run(capsys, "user", "import", str(dump), "--data-dir", str(fresh))
    assert code == 0, err
    assert "0 users" in out

    with ServerThread(make_config(fresh)) as other:
        client = imaplib.IMAP4_SSL(LOOPBACK, other.port("imaps"),
                                   ssl_context=other.client_tls())
        assert client.login(ANN, PASSWORD)[0] == "OK"  # the old password
        client.logout()
        user = other.call(other.store.get_user("keep@other.test"))
        assert (user.pop3_keep, user.quota_bytes, user.disabled) == (True, 5 << 20, True)
        assert other.call(other.store.get_user(ANN)).role == "admin"
        alias = other.call(other.store.get_alias("team@example.test"))
        assert alias.targets == (ANN, "keep@other.test")

    # a conflict: nothing is changed, each conflict is named
    exported["users"][0]["password_hash"] = "$argon2id$v=19$m=1024,t=1,p=1$other"
    exported["users"].append({"address": "new@example.test", "password_hash": "x"})
    dump.write_text(json.dumps(exported))
    code, out, err = _run(capsys, "user", "import", str(dump), "--data-dir", str(fresh))
    assert code == 1
    assert "conflict" in out
    assert "another password" in out
    assert "nothing imported" in err
    with ServerThread(make_config(fresh)) as other:
        assert other.call(other.store.get_user("new@example.test")) is None

    # a malformed file is refused with the entry named
    dump.write_text(json.dumps({"format": "posthouse-accounts", "version": 1,
                                "users": [{"address": "x@example.test"}]}))
    code, _, err = _run(capsys, "user", "import", str(dump), "--data-dir", str(fresh))
    assert code == 1
    assert "users entry 1: 'password_hash' missing" in err
    dump.write_text("[1, 2")
    code, _, err = _run(capsys, "user", "import", str(dump), "--data-dir", str(fresh))
    assert code == 1
    assert "cannot read" in err
