"""``posthouse backup`` and ``restore`` end to end: a backup taken while SMTP and IMAP clients
write, restored into a new data dir that a new server then serves byte for byte; the
incremental blob copy; damaged backups refused naming the file; live data dirs refused."""

from __future__ import annotations

import imaplib
import json
import os
import pwd
import re
import smtplib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import make_msgid
from pathlib import Path

import pytest

from posthouse.maint.backup import run_backup
from posthouse.store import blobs
from posthouse.store.datalock import DataDirBusy
from tests.support.server import DOMAIN, PASSWORD, ServerThread, make_config

PY = [sys.executable, "-m", "posthouse"]
ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
BIG = 300 * 1024  # above the inline limit: a blob file


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PY, *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


def message(n: int, size: int = 0) -> tuple[str, bytes]:
    msgid = make_msgid(f"m{n}", DOMAIN)
    body = (b"x" * 76 + b"\r\n") * (size // 78) if size else b"hello %d\r\n" % n
    data = (
        f"From: {ALICE}\r\nTo: {BOB}\r\nSubject: message {n}\r\nMessage-ID: {msgid}\r\n\r\n"
    ).encode() + body
    return msgid, data


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[ServerThread]:
    cfg = make_config(tmp_path / "data", allow_plaintext_on_loopback=True)
    with ServerThread(cfg) as server:
        server.add_user(ALICE)
        server.add_user(BOB)
        yield server


def imap_login(server: ServerThread, user: str) -> imaplib.IMAP4:
    imap = imaplib.IMAP4("127.0.0.1", server.port("imap"))
    imap.login(user, PASSWORD)
    return imap


def all_messages(server: ServerThread, user: str) -> dict[str, bytes]:
    """Every message of the user's INBOX over IMAP, by Message-ID."""
    imap = imap_login(server, user)
    try:
        imap.select("INBOX", readonly=True)
        _typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
        out = {}
        for item in data:
            if isinstance(item, tuple):
                raw = item[1]
                found = re.search(rb"(?im)^Message-ID: (<[^>]+>)", raw)
                assert found is not None
                out[found.group(1).decode()] = raw
        return out
    finally:
        imap.logout()


class Traffic:
    """SMTP deliveries to bob and IMAP APPENDs to alice, each recorded once acknowledged."""

    def __init__(self, server: ServerThread, *, churn: bool = False) -> None:
        self.server = server
        self.stop = threading.Event()
        self.acked: list[tuple[float, str, str, bytes]] = []  # time, user, Message-ID, data
        self.errors: list[BaseException] = []
        jobs = (self._smtp, self._imap, *((self._churn,) if churn else ()))
        self._threads = [threading.Thread(target=self._guard, args=(fn,)) for fn in jobs]

    def __enter__(self) -> Traffic:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(60)

    def _guard(self, fn: object) -> None:
        try:
            fn()  # type: ignore[operator]
        except BaseException as exc:
            self.errors.append(exc)

    def _smtp(self) -> None:
        n = 0
        with smtplib.SMTP("127.0.0.1", self.server.port("smtp")) as smtp:
            while not self.stop.is_set():
                n += 1
                msgid, data = message(n, BIG if n % 4 == 0 else 0)
                smtp.sendmail(ALICE, [BOB], data)
                self.acked.append((time.monotonic(), BOB, msgid, data))

    def _imap(self) -> None:
        n = 100_000
        imap = imap_login(self.server, ALICE)
        try:
            while not self.stop.is_set():
                n += 1
                msgid, data = message(n, BIG if n % 3 == 0 else 0)
                typ, _ = imap.append("INBOX", r"(\Flagged)", None, data)
                assert typ == "OK"
                self.acked.append((time.monotonic(), ALICE, msgid, data))
        finally:
            imap.logout()

    def _churn(self) -> None:
        """Messages appended to alice's Trash and expunged again (blobs come and go)."""
        imap = imap_login(self.server, ALICE)
        try:
            imap.select("Trash")
            n = 200_000
            while not self.stop.is_set():
                for _ in range(3):
                    n += 1
                    imap.append("Trash", None, None, message(n, BIG)[1])
                imap.store("1:*", "+FLAGS", r"(\Deleted)")
                imap.expunge()
        finally:
            imap.logout()

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 120
        while len(self.acked) < count and not self.errors and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.errors, self.errors


def test_backup_under_traffic_restores_every_acknowledged_message(
    srv: ServerThread, tmp_path: Path
) -> None:
    try:
        service_user: pwd.struct_passwd | None = pwd.getpwnam("posthouse")
    except KeyError:
        service_user = None
    repo = tmp_path / "repo"
    with Traffic(srv) as traffic:
        traffic.wait_for(20)
        started = time.monotonic()
        first = cli("backup", "--data-dir", srv.cfg.data_path, repo)
        assert first.returncode == 0, first.stderr
        traffic.wait_for(len(traffic.acked) + 10)
        started_again = time.monotonic()
        second = cli("backup", "--data-dir", srv.cfg.data_path, repo)
        assert second.returncode == 0, second.stderr
        traffic.wait_for(len(traffic.acked) + 5)
    assert not traffic.errors, traffic.errors
    assert "blobs:" in second.stdout
    assert not second.stderr
    live = {user: all_messages(srv, user) for user in (ALICE, BOB)}

    snapshots = sorted((repo / "snapshots").iterdir())
    assert len(snapshots) == 2
    for snap, since in zip(snapshots, (started, started_again), strict=True):
        target = tmp_path / f"restored-{snap.name}"
        done = cli("restore", snap, target)
        assert done.returncode == 0, done.stderr
        assert (target.stat().st_mode & 0o777) == 0o700
        if os.geteuid() == 0 and service_user is not None:  # handed over as serve would
            assert target.stat().st_uid == service_user.pw_uid
        checked = cli("verify", "--data-dir", target)
        assert checked.returncode == 0, checked.stdout  # a consistent snapshot
        with ServerThread(make_config(target, allow_plaintext_on_loopback=True)) as restored:
            got = {user: all_messages(restored, user) for user in (ALICE, BOB)}
        before = [(u, m, d) for t, u, m, d in traffic.acked if t < since]
        assert before, "traffic ran before the backup"
        for user, msgid, data in before:
            stored = got[user].get(msgid)
            assert stored is not None, f"{msgid} acknowledged before the backup is missing"
            assert stored == live[user][msgid]  # byte for byte what the server stored
            if user == ALICE:
                assert stored == data  # APPEND stores the octets it was given
            else:
                assert stored.endswith(data)  # SMTP prepends Return-Path and Received
        for user in (ALICE, BOB):  # nothing in the backup the server never had
            assert set(got[user]) <= set(live[user])


def test_online_verify_under_traffic_finds_nothing(srv: ServerThread) -> None:
    """verify against a serving data dir while mail arrives, is appended and expunged:
    one read snapshot, no false alarm from the writer or the indexer at work."""
    with Traffic(srv, churn=True) as traffic:
        traffic.wait_for(20)
        runs = [cli("verify", "--data-dir", srv.cfg.data_path) for _ in range(3)]
        traffic.wait_for(len(traffic.acked) + 5)
    assert not traffic.errors, traffic.errors
    for run in runs:
        assert run.returncode == 0, run.stdout
        assert "online" in run.stdout


def test_incremental_backup_copies_only_new_blobs(srv: ServerThread, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as smtp:
        for n in range(3):
            smtp.sendmail(ALICE, [BOB], message(n, BIG)[1])
        first = cli("backup", "--data-dir", srv.cfg.data_path, repo)
        assert first.returncode == 0, first.stderr
        assert "blobs: 3 copied" in first.stdout
        blob_files = sorted(p for p in (repo / "blobs").rglob("*") if p.is_file())
        before = {p: p.stat().st_mtime_ns for p in blob_files}
        for n in range(3, 5):
            smtp.sendmail(ALICE, [BOB], message(n, BIG)[1])
        smtp.sendmail(ALICE, [BOB], message(9)[1])  # small: inline, inside the database
    second = cli("backup", "--data-dir", srv.cfg.data_path, repo)
    assert second.returncode == 0, second.stderr
    assert "blobs: 2 copied" in second.stdout
    assert "3 already in the repository" in second.stdout
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # untouched
    manifests = [
        json.loads((s / "manifest.json").read_text())
        for s in sorted((repo / "snapshots").iterdir())
    ]
    assert [m["messages"] for m in manifests] == [3, 6]
    assert len(manifests[1]["blobs"]) == 5
    assert manifests[1]["schema_version"] >= 6
    assert manifests[1]["posthouse_version"]
    assert {"posthouse.sqlite3", "search.sqlite3"} <= set(manifests[1]["files"])


def backed_up(srv: ServerThread, tmp_path: Path) -> Path:
    with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as smtp:
        smtp.sendmail(ALICE, [BOB], message(1, BIG)[1])
        smtp.sendmail(ALICE, [BOB], message(2)[1])
    repo = tmp_path / "repo"
    assert cli("backup", "--data-dir", srv.cfg.data_path, repo).returncode == 0
    return repo


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_a_corrupted_blob_is_refused_naming_the_file(srv: ServerThread, tmp_path: Path) -> None:
    repo = backed_up(srv, tmp_path)
    blob = next(p for p in (repo / "blobs").rglob("*") if p.is_file())
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))
    target = tmp_path / "restored"
    err = one_line_error(cli("restore", repo, target))
    assert str(blob) in err
    assert "hash" in err
    assert not target.exists()  # nothing written
    check = cli("restore", "--check-only", repo, target)
    assert check.returncode == 1
    assert str(blob) in check.stderr


def test_a_truncated_database_is_refused_naming_the_file(srv: ServerThread, tmp_path: Path) -> None:
    repo = backed_up(srv, tmp_path)
    db = next((repo / "snapshots").iterdir()) / "posthouse.sqlite3"
    with open(db, "r+b") as fh:
        fh.truncate(db.stat().st_size // 2)
    err = one_line_error(cli("restore", repo, tmp_path / "restored"))
    assert str(db) in err
    assert "truncated" in err
    assert not (tmp_path / "restored").exists()


def test_a_damaged_manifest_is_refused_naming_it(srv: ServerThread, tmp_path: Path) -> None:
    repo = backed_up(srv, tmp_path)
    manifest = next((repo / "snapshots").iterdir()) / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:50])
    err = one_line_error(cli("restore", repo, tmp_path / "restored"))
    assert str(manifest) in err


def test_restore_refuses_a_live_data_dir_and_a_full_one(srv: ServerThread, tmp_path: Path) -> None:
    repo = backed_up(srv, tmp_path)
    err = one_line_error(cli("restore", repo, srv.cfg.data_path, "--force"))
    assert "running posthouse server" in err
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    err = one_line_error(cli("restore", repo, full))
    assert "not empty" in err
    assert "--force" in err
    done = cli("restore", repo, full, "--force")
    assert done.returncode == 0, done.stderr
    kept = list(tmp_path.glob("full.replaced-*"))
    assert len(kept) == 1
    assert (kept[0] / "keep.txt").read_text() == "mine"


def test_a_backup_inside_the_data_dir_is_refused(srv: ServerThread) -> None:
    err = one_line_error(cli("backup", "--data-dir", srv.cfg.data_path,
                             srv.cfg.data_path / "backup"))
    assert "inside the data dir" in err


def test_a_second_server_on_the_same_data_dir_is_refused(srv: ServerThread) -> None:
    second = ServerThread(make_config(srv.cfg.data_path))
    second._thread.start()
    try:
        with pytest.raises(DataDirBusy, match="in use by a running posthouse server"):
            second.call(second.app.start())
    finally:
        second.loop.call_soon_threadsafe(second.loop.stop)
        second._thread.join(10)
        second.loop.close()


def test_backup_while_messages_come_and_go(srv: ServerThread, tmp_path: Path) -> None:
    """Blob files deleted during the backup (their messages expunged after the database was
    copied) make it take the snapshot again; the result is whole and verifies clean."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        try:
            imap = imap_login(srv, ALICE)
            imap.select("INBOX")
            n = 0
            while not stop.is_set():
                for _ in range(4):
                    n += 1
                    imap.append("INBOX", None, None, message(n, BIG)[1])
                imap.store("1:*", "+FLAGS", r"(\Deleted)")
                imap.expunge()
            imap.logout()
        except BaseException as exc:
            errors.append(exc)

    keep = [message(1000 + n, BIG)[1] for n in range(3)]
    with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as smtp:
        for data in keep:
            smtp.sendmail(ALICE, [BOB], data)
    thread = threading.Thread(target=churn)
    thread.start()
    try:
        results = [cli("backup", "--data-dir", srv.cfg.data_path, tmp_path / "repo")
                   for _ in range(3)]
    finally:
        stop.set()
        thread.join(60)
    assert not errors, errors
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    print("".join(r.stdout for r in results))  # "taken N times" when a retry happened
    for snap in sorted((tmp_path / "repo" / "snapshots").iterdir()):
        target = tmp_path / f"restored-{snap.name}"
        assert cli("restore", snap, target).returncode == 0
        checked = cli("verify", "--data-dir", target)
        assert checked.returncode == 0, checked.stdout
        with ServerThread(make_config(target, allow_plaintext_on_loopback=True)) as restored:
            bob = restored.inbox(BOB)
        assert [m[-len(d):] for m, d in zip(bob, keep, strict=True)] == keep


def test_a_blob_deleted_after_the_database_copy_means_a_new_snapshot(
        srv: ServerThread, tmp_path: Path) -> None:
    """The window between copying the database and copying its blobs, hit on purpose: the
    message is expunged over IMAP right then, its file goes, and the backup starts over."""
    with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as smtp:
        for n in range(2):
            smtp.sendmail(ALICE, [BOB], message(n, BIG)[1])
    first_blob = blobs.blob_id_of(srv.inbox(BOB)[0])
    hit: list[str] = []

    @contextmanager
    def expunge_once(label: str, total: int, unit: str) -> Iterator[Callable[[int], None]]:
        if label == "blobs" and not hit:
            hit.append(label)
            imap = imap_login(srv, BOB)
            imap.select("INBOX")
            imap.store("1", "+FLAGS", r"(\Deleted)")
            imap.expunge()
            imap.logout()
            path = blobs.blob_path(srv.cfg.data_path / "blobs", first_blob)
            deadline = time.monotonic() + 60
            while path.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert not path.exists()
        yield lambda n: None

    done = run_backup(srv.cfg.data_path, tmp_path / "repo", now=datetime.now(UTC),
                      progress=expunge_once)
    assert done.attempts == 2
    assert done.manifest.messages == 1
    assert first_blob not in done.manifest.blobs


def test_a_backup_cut_short_is_cleared_by_the_next(srv: ServerThread, tmp_path: Path) -> None:
    """A crash mid-backup leaves only a temp snapshot dir: restore never takes it, the next
    backup removes it."""
    repo = backed_up(srv, tmp_path)
    leftover = repo / "snapshots" / ".tmp-29991231T235959Z"
    leftover.mkdir()
    (leftover / "posthouse.sqlite3").write_bytes(b"half")
    restored = cli("restore", repo, tmp_path / "restored")
    assert restored.returncode == 0, restored.stderr
    assert ".tmp-" not in restored.stdout
    again = cli("backup", "--data-dir", srv.cfg.data_path, repo)
    assert again.returncode == 0, again.stderr
    assert not leftover.exists()
