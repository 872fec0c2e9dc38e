"""A Maildir written by Dovecot moves to posthouse with its flags, keywords, uids and
UIDVALIDITY, and an mbsync that synced it from Dovecot goes on against posthouse without
downloading anything again (RFC 9051 2.3.1.1: same UIDVALIDITY and uid, same message).

Dovecot (Debian's package, a private peer) gets its mail, folders, keywords and flags over
IMAP, mbsync syncs it, Dovecot stops, ``posthouse import maildir`` runs while posthouse
serves, and then everything is checked over real IMAP sockets on posthouse.
"""

from __future__ import annotations

import imaplib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from posthouse.cli.main import main
from posthouse.config import tls_paths
from posthouse.imap.utf7 import encode
from tests.support.peers import LOOPBACK, DovecotPeer, free_port, mail_owner, scratch_dir
from tests.support.server import PASSWORD, ServerThread

pytestmark = [
    pytest.mark.interop,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("dovecot") is None or shutil.which("mbsync") is None,
                       reason="dovecot and mbsync (isync) needed"),
]

ANN = "ann@example.test"
DOVECOT_PASSWORD = "peer secret 1"
# Dovecot's separator in its default Maildir++ layout is "."; posthouse's is "/".
FOLDERS = {"INBOX": "INBOX", "Work": "Work", "Work.Projekte Ümlaut": "Work/Projekte Ümlaut"}


def _message(i: int, folder: str) -> bytes:
    return (f"From: Sender {i} <s{i}@example.org>\r\nTo: {ANN}\r\n"
            f"Subject: message {i} in {folder}\r\nMessage-ID: <m{i}.{len(folder)}@example.org>"
            f"\r\nDate: Mon, 4 Mar 2024 10:{i:02d}:00 +0100\r\n\r\nBody {i}.\r\n"
            f"From the start of a line.\r\n").encode()


def _fill_dovecot(port: int) -> None:
    """Folders, messages, keywords and flags, set over IMAP as a user would."""
    imap = imaplib.IMAP4(LOOPBACK, port)
    imap.login(ANN, DOVECOT_PASSWORD)
    for folder in FOLDERS:
        if folder != "INBOX":
            assert imap.create(_mutf7(folder))[0] == "OK"
    imap.subscribe("Work")
    for n, folder in enumerate(FOLDERS):
        for i in range(1, 6 + n):
            assert imap.append(_mutf7(folder), "", imaplib.Time2Internaldate(
                1_700_000_000 + 3600 * i), _message(i, folder))[0] == "OK"
        imap.select(_mutf7(folder))
        imap.uid("STORE", "1,3", "+FLAGS", r"(\Seen $label1)")
        imap.uid("STORE", "2", "+FLAGS", r"(\Flagged Important)")
        imap.uid("STORE", "3", "+FLAGS", r"(\Answered)")
        imap.uid("STORE", "4", "+FLAGS", r"(\Deleted)")
        imap.expunge()  # a gap in the uids: uid 4 is gone for good
        imap.uid("STORE", "5", "+FLAGS", r"(\Draft NonJunk)")
    imap.logout()


def _mutf7(name: str) -> str:
    """A folder name in modified UTF-7, quoted for imaplib."""
    return '"' + encode(name) + '"'


def _state(imap: imaplib.IMAP4, folder: str
           ) -> tuple[int, int, dict[int, tuple[frozenset[str], float]]]:
    """UIDVALIDITY, UIDNEXT and uid -> (flags, INTERNALDATE as a timestamp) of one folder."""
    typ, data = imap.status(folder, "(UIDVALIDITY UIDNEXT)")
    assert typ == "OK", data
    text = data[0].decode()
    validity = int(re.search(r"UIDVALIDITY (\d+)", text)[1])  # type: ignore[index]
    uidnext = int(re.search(r"UIDNEXT (\d+)", text)[1])  # type: ignore[index]
    assert imap.select(folder, readonly=True)[0] == "OK"
    _typ, rows = imap.uid("FETCH", "1:*", "(FLAGS INTERNALDATE)")
    flags: dict[int, tuple[frozenset[str], float]] = {}
    for row in rows:
        if not isinstance(row, bytes):
            continue
        uid = re.search(rb"UID (\d+)", row)
        found = re.search(rb"FLAGS \(([^)]*)\)", row)
        when = imaplib.Internaldate2tuple(row)
        assert uid is not None, row
        assert found is not None, row
        assert when is not None, row
        names = frozenset(found[1].decode().split()) - {"\\Recent"}
        flags[int(uid[1])] = (names, time.mktime(when))
    return validity, uidnext, flags


def _mbsyncrc(home: Path, far: str) -> Path:
    cfg = home / "mbsyncrc"
    cfg.write_text(
        f"IMAPAccount src\n{far}\n\nIMAPStore far\nAccount src\n\n"
        f"MaildirStore near\nPath {home}/mail/\nInbox {home}/mail/INBOX\nSubFolders Verbatim\n\n"
        f"Channel sync\nFar :far:\nNear :near:\nPatterns *\nCreate Near\n"
        f"Expunge None\nSyncState *\nSync Pull\n")
    return cfg


def _mbsync(cfg: Path) -> str:
    done = subprocess.run(["mbsync", "-c", str(cfg), "-V", "sync"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _near_files(home: Path) -> set[str]:
    return {str(p.relative_to(home / "mail")) for p in (home / "mail").rglob("*")
            if p.is_file() and p.parent.name in ("cur", "new")}


@pytest.fixture
def lab() -> Iterator[Path]:
    with scratch_dir() as path:
        yield path


def test_dovecot_maildir_keeps_uids_flags_and_mbsync_state(
    lab: Path, server: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dovecot = DovecotPeer(lab / "dovecot", imap_port=free_port(), pop3_port=free_port(),
                          users={ANN: DOVECOT_PASSWORD})
    home = tmp_path / "home"
    (home / "mail").mkdir(parents=True)
    with dovecot:
        _fill_dovecot(dovecot.imap_port)
        imap = imaplib.IMAP4(LOOPBACK, dovecot.imap_port)
        imap.login(ANN, DOVECOT_PASSWORD)
        before = {name: _state(imap, _mutf7(folder)) for folder, name in FOLDERS.items()}
        imap.logout()
        cfg = _mbsyncrc(home, f"Host {LOOPBACK}\nPort {dovecot.imap_port}\nUser {ANN}\n"
                        f"Pass \"{DOVECOT_PASSWORD}\"\nSSLType None\nAuthMechs LOGIN")
        _mbsync(cfg)
    synced = _near_files(home)
    assert len(synced) == sum(len(s[2]) for s in before.values()) == 15

    server.add_user(ANN)
    data_dir = server.cfg.data_path
    code = main(["import", "maildir", ANN, str(dovecot.maildir(ANN)), "--data-dir",
                 str(data_dir)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "imported 15 messages" in out.out

    client = imaplib.IMAP4_SSL(LOOPBACK, server.port("imaps"), ssl_context=server.client_tls())
    client.login(ANN, PASSWORD)
    for name, (validity, uidnext, flags) in before.items():
        assert _state(client, _mutf7(name)) == (validity, uidnext, flags), name
    _typ, subs = client.lsub('""', "*")
    assert any(b'"Work"' in s or b" Work" in s for s in subs if isinstance(s, bytes)), subs
    client.select("INBOX")
    _typ, body = client.uid("FETCH", "1", "(BODY.PEEK[])")
    assert isinstance(body[0], tuple)
    assert body[0][1] == _message(1, "INBOX")  # byte for byte, CRLF as served
    client.logout()

    # a second run finds everything there already
    assert main(["import", "maildir", ANN, str(dovecot.maildir(ANN)), "--data-dir",
                 str(data_dir)]) == 0
    assert "imported 0 messages" in capsys.readouterr().out

    # mbsync, its state made against Dovecot, now syncs against posthouse: nothing new comes
    cert, _ = tls_paths(server.cfg)
    cfg = _mbsyncrc(home, f"Host localhost\nPort {server.port('imaps')}\nUser {ANN}\n"
                    f"Pass \"{PASSWORD}\"\nSSLType IMAPS\nCertificateFile {cert}")
    _mbsync(cfg)
    assert _near_files(home) == synced
    # and mail that arrives at posthouse afterwards comes down as usual
    client = imaplib.IMAP4_SSL(LOOPBACK, server.port("imaps"), ssl_context=server.client_tls())
    client.login(ANN, PASSWORD)
    assert client.append("Work", "", None, _message(9, "Work"))[0] == "OK"
    client.logout()
    _mbsync(cfg)
    new = _near_files(home) - synced
    assert len(new) == 1
    assert next(iter(new)).startswith("Work/")


def test_dovecot_reads_a_maildir_export(
    lab: Path, server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    """posthouse's export is Dovecot's own Maildir: same UIDVALIDITY, uids, flags, keywords,
    subscriptions and bytes, over Dovecot's IMAP."""
    server.add_user(ANN)
    client = imaplib.IMAP4_SSL(LOOPBACK, server.port("imaps"), ssl_context=server.client_tls())
    client.login(ANN, PASSWORD)
    for folder in FOLDERS.values():
        if folder != "INBOX":
            client.create(_mutf7(folder))
    client.subscribe("Work")
    for n, folder in enumerate(FOLDERS.values()):
        for i in range(1, 4 + n):
            client.append(_mutf7(folder), r"(\Seen $label1)" if i == 2 else "", None,
                          _message(i, folder))
        client.select(_mutf7(folder))
        client.uid("STORE", "1", "+FLAGS", r"(\Flagged \Answered NonJunk)")
        client.uid("STORE", "3", "+FLAGS", r"(\Deleted)")
        client.expunge()
    ours = {name: _state(client, _mutf7(name)) for name in FOLDERS.values()}
    client.logout()

    dovecot = DovecotPeer(lab / "dovecot", imap_port=free_port(), pop3_port=free_port(),
                          users={ANN: DOVECOT_PASSWORD})
    dest = dovecot.maildir(ANN)
    code = main(["export", "maildir", ANN, str(dest), "--data-dir", str(server.cfg.data_path)])
    assert code == 0, capsys.readouterr().err
    owner = mail_owner()
    for path in [dest.parent.parent, dest.parent, dest, *dest.rglob("*")]:
        os.chown(path, owner.uid, owner.gid)
    with dovecot:
        imap = imaplib.IMAP4(LOOPBACK, dovecot.imap_port)
        imap.login(ANN, DOVECOT_PASSWORD)
        for folder, name in FOLDERS.items():
            assert _state(imap, _mutf7(folder)) == ours[name], name
        _typ, subs = imap.lsub('""', "*")
        assert [s for s in subs if isinstance(s, bytes) and s.endswith(b"Work")], subs
        imap.select("INBOX")
        _typ, body = imap.uid("FETCH", "2", "(BODY.PEEK[])")
        assert isinstance(body[0], tuple)
        assert body[0][1] == _message(2, "INBOX")
        imap.logout()
