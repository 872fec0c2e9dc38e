"""``posthouse verify [--repair]`` end to end: damage made on disk is found, repaired without
losing mail, and the repaired data dir is served over IMAP byte for byte."""

from __future__ import annotations

import hashlib
import imaplib
import re
import smtplib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from posthouse.store import blobs
from tests.support.server import DOMAIN, PASSWORD, ServerThread, make_config

PY = [sys.executable, "-m", "posthouse"]
ALICE = f"alice@{DOMAIN}"
BIG = 300 * 1024


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PY, *map(str, args)], capture_output=True, text=True, timeout=300,
                          check=False)


def message(n: int, size: int = 0) -> bytes:
    body = (b"y" * 76 + b"\r\n") * (size // 78) if size else b"short %d\r\n" % n
    return f"From: bob@{DOMAIN}\r\nTo: {ALICE}\r\nSubject: m{n}\r\n\r\n".encode() + body


@contextmanager
def serve(data: Path) -> Iterator[ServerThread]:
    with ServerThread(make_config(data, allow_plaintext_on_loopback=True)) as srv:
        if srv.call(srv.store.get_user(ALICE)) is None:
            srv.add_user(ALICE)
        yield srv


def fill(data: Path) -> list[bytes]:
    """Three messages for alice (two as blob files, one inline); what the server stored."""
    with serve(data) as srv, smtplib.SMTP("127.0.0.1", srv.port("smtp")) as smtp:
        for n, size in ((1, BIG), (2, 0), (3, BIG)):
            smtp.sendmail(f"bob@{DOMAIN}", [ALICE], message(n, size))
        return srv.inbox(ALICE)


def fetch_all(srv: ServerThread, mailbox: str = "INBOX") -> tuple[list[bytes], int]:
    """Every message of a mailbox over IMAP, and its UIDNEXT."""
    imap = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    try:
        imap.login(ALICE, PASSWORD)
        _typ, st = imap.status(mailbox, "(UIDNEXT)")
        uidnext = int(st[0].decode().rsplit(" ", 1)[1].rstrip(")"))
        imap.select(mailbox, readonly=True)
        _typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
        return [item[1] for item in data if isinstance(item, tuple)], uidnext
    finally:
        imap.logout()


def db(data: Path) -> sqlite3.Connection:
    return sqlite3.connect(data / "posthouse.sqlite3", isolation_level=None)


def test_corrupt_blob_and_wrong_counters_found_and_repaired(tmp_path: Path) -> None:
    data, repo = tmp_path / "data", tmp_path / "repo"
    stored = fill(data)
    assert cli("backup", "--data-dir", data, repo).returncode == 0  # the spare copies
    assert cli("verify", "--data-dir", data).stdout.strip().endswith("ok")

    file_blob = hashlib.sha256(stored[0]).hexdigest()
    inline_blob = hashlib.sha256(stored[1]).hexdigest()
    path = blobs.blob_path(data / "blobs", file_blob)
    damaged = bytearray(path.read_bytes())
    damaged[1000] ^= 0x20
    path.write_bytes(bytes(damaged))
    conn = db(data)
    conn.execute("UPDATE blob_data SET data = ? WHERE id = ?", (b"garbage", inline_blob))
    conn.execute("UPDATE users SET used_count = 99, used_bytes = 1")
    conn.execute("UPDATE mailboxes SET uidnext = 2, highestmodseq = 1 WHERE name = 'INBOX'")
    conn.execute("UPDATE blobs SET refs = 7 WHERE id = ?", (file_blob,))
    third = hashlib.sha256(stored[2]).hexdigest()
    conn.execute("UPDATE blobs SET size = 5 WHERE id = ?", (third,))
    conn.close()

    found = cli("verify", "--data-dir", data)
    assert found.returncode == 1
    out = found.stdout
    assert f"blob-corrupt: blob {file_blob}" in out
    assert f"blob-corrupt: blob {inline_blob}" in out
    assert f"usage: user {ALICE}: counters say 1 bytes in 99 messages" in out
    assert "uidnext: mailbox" in out
    assert "highestmodseq: mailbox" in out
    assert f"refs: blob {file_blob}: count is 7, 1 rows refer to it" in out
    assert f"blob-size: blob {third}: row says 5 bytes, content has {len(stored[2])}" in out

    no_spare = cli("verify", "--repair", "--data-dir", data)
    assert no_spare.returncode == 1  # the content itself cannot be made up
    assert f"REMAINS blob-corrupt: blob {file_blob}" in no_spare.stdout
    assert "REMAINS usage" not in no_spare.stdout  # the counters are fixed already
    assert f"repaired blob {third}: size set from its content" in no_spare.stdout
    assert "REMAINS blob-size" not in no_spare.stdout
    assert "database copied to" in no_spare.stdout
    assert list((data / "backups").glob("pre-repair-*.sqlite3"))

    fixed = cli("verify", "--repair", "--data-dir", data, "--spare-blobs", repo)
    assert fixed.returncode == 0, fixed.stdout
    assert f"blob {file_blob}: put back from a spare copy" in fixed.stdout
    assert fixed.stdout.strip().endswith("ok after repair")
    assert cli("verify", "--data-dir", data).stdout.strip().endswith("ok")

    with serve(data) as srv:
        messages, uidnext = fetch_all(srv)
        assert messages == stored  # byte for byte
        assert uidnext == 4
        imap = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
        imap.login(ALICE, PASSWORD)
        _typ, resp = imap.append("INBOX", None, None, message(4))
        imap.logout()
        found = re.search(rb"APPENDUID \d+ (\d+)", resp[0])
        assert found is not None
        assert int(found.group(1)) == 4  # no uid given twice


def status_counts(srv: ServerThread, mailbox: str = "INBOX") -> dict[str, int]:
    """STATUS (MESSAGES UNSEEN SIZE RECENT) over IMAP."""
    imap = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    try:
        imap.login(ALICE, PASSWORD)
        _typ, st = imap.status(mailbox, "(MESSAGES UNSEEN SIZE RECENT)")
        words = st[0].decode().split("(")[1].rstrip(")").split()
        return dict(zip(words[::2], map(int, words[1::2]), strict=True))
    finally:
        imap.logout()


def test_wrong_mailbox_counters_found_and_recomputed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    stored = fill(data)
    with serve(data) as srv:
        imap = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
        imap.login(ALICE, PASSWORD)
        imap.select("INBOX")  # takes \Recent
        imap.uid("FETCH", "2", "(BODY[])")  # sets \Seen (RFC 9051 6.4.5)
        imap.logout()
    assert cli("verify", "--data-dir", data).stdout.strip().endswith("ok")
    conn = db(data)
    conn.execute("UPDATE mailboxes SET msg_count = 50, unseen_count = 0, size_total = 1,"
                 " recent_count = 9 WHERE name = 'INBOX'")
    conn.close()

    found = cli("verify", "--data-dir", data)
    assert found.returncode == 1
    size = sum(map(len, stored))
    assert (f"counters: mailbox 1 ({ALICE}/INBOX): counters say messages 50 (rows: 3), "
            f"unseen 0 (rows: 2), size 1 (rows: {size}), recent 9 (rows: 0) (repairable)"
            ) in found.stdout

    fixed = cli("verify", "--repair", "--data-dir", data)
    assert fixed.returncode == 0, fixed.stdout
    assert "1 mailboxes' message counters" in fixed.stdout
    assert cli("verify", "--data-dir", data).stdout.strip().endswith("ok")
    with serve(data) as srv:
        assert status_counts(srv) == {"MESSAGES": 3, "UNSEEN": 2, "SIZE": size, "RECENT": 0}


def test_wrong_address_rows_found_and_made_again(tmp_path: Path) -> None:
    """SEARCH FROM/TO/CC/BCC read summary_addresses (schema v10): a row missing, wrong or
    left without its summary is found, and the repair makes them from the header maps."""
    data = tmp_path / "data"
    fill(data)
    assert cli("verify", "--data-dir", data).stdout.strip().endswith("ok")
    conn = db(data)
    first, second = (r[0] for r in conn.execute(
        "SELECT id FROM summary_addresses ORDER BY id LIMIT 2"))
    conn.execute("UPDATE summary_addresses SET from_lc = 'nobody' WHERE id = ?", (first,))
    conn.execute("DELETE FROM summary_addresses WHERE id = ?", (second,))
    conn.execute("INSERT INTO summary_addresses (id, from_lc) VALUES (9999, 'stray')")
    conn.close()

    found = cli("verify", "--data-dir", data)
    assert found.returncode == 1
    assert ("addresses: summary_addresses: 1 summaries have no address row; 1 address rows "
            "differ from their summary; 1 address rows have no summary (repairable)"
            ) in found.stdout

    fixed = cli("verify", "--repair", "--data-dir", data)
    assert fixed.returncode == 0, fixed.stdout
    assert "address rows of 3 summaries made again" in fixed.stdout
    assert cli("verify", "--data-dir", data).stdout.strip().endswith("ok")
    with serve(data) as srv:
        imap = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
        imap.login(ALICE, PASSWORD)
        imap.select("INBOX", readonly=True)
        assert imap.uid("SEARCH", "FROM", "BOB@")[1] == [b"1 2 3"]
        assert imap.uid("SEARCH", "FROM", "nobody")[1] == [b""]
        imap.logout()


def test_orphans_are_filed_into_recovered(tmp_path: Path) -> None:
    data = tmp_path / "data"
    stored = fill(data)
    lost = message(9, BIG)
    lost_id = hashlib.sha256(lost).hexdigest()
    blobs.write_blob_file(data / "blobs", lost_id, lost)  # a file no row knows
    conn = db(data)
    conn.execute("UPDATE messages SET mailbox_id = 999 WHERE uid = 2")  # its mailbox gone
    conn.close()

    found = cli("verify", "--data-dir", data)
    assert found.returncode == 1
    assert f"orphan-file: blob file {lost_id}" in found.stdout
    assert "orphan-message: mailbox 999: 1 messages" in found.stdout

    fixed = cli("verify", "--repair", "--data-dir", data)
    assert fixed.returncode == 0, fixed.stdout
    assert f"filed into {ALICE}/Recovered" in fixed.stdout

    with serve(data) as srv:
        inbox, _ = fetch_all(srv)
        recovered, _ = fetch_all(srv, "Recovered")
    assert inbox == [stored[0], stored[2]]
    assert sorted(recovered) == sorted([stored[1], lost])


def test_online_verify_reads_a_snapshot_and_refuses_repair(tmp_path: Path) -> None:
    data = tmp_path / "data"
    fill(data)
    with serve(data) as srv, smtplib.SMTP("127.0.0.1", srv.port("smtp")) as smtp:
        smtp.sendmail(f"bob@{DOMAIN}", [ALICE], message(5, BIG))
        online = cli("verify", "--data-dir", data)
        assert online.returncode == 0, online.stdout
        assert "online" in online.stdout
        refused = cli("verify", "--repair", "--data-dir", data)
        assert refused.returncode == 1
        assert refused.stderr.count("\n") == 1
        assert "--repair needs the server stopped" in refused.stderr


def test_a_lost_search_index_is_reported_and_rebuilt(tmp_path: Path) -> None:
    data = tmp_path / "data"
    fill(data)
    conn = sqlite3.connect(data / "search.sqlite3", isolation_level=None)
    conn.execute("DELETE FROM fts")
    conn.execute("UPDATE meta SET value = 999 WHERE key = 'upto'")  # it claims them all
    conn.close()
    found = cli("verify", "--data-dir", data)
    assert found.returncode == 1
    assert "index: search index: 3 indexed messages have no index rows" in found.stdout
    fixed = cli("verify", "--repair", "--data-dir", data)
    assert fixed.returncode == 0, fixed.stdout
    assert not (data / "search.sqlite3").exists()
    with serve(data) as srv:
        imap = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
        imap.login(ALICE, PASSWORD)
        imap.select("INBOX")
        _typ, hits = imap.search(None, "SUBJECT", "m3")
        imap.logout()
    assert hits == [b"3"]
