"""``[server] workers = 2``: two worker processes behind one parent, over real sockets, on
the embedded SQLite store and on PostgreSQL.

``posthouse serve`` runs as a child process. Which worker serves a connection is the
kernel's choice (both wait on the same listening socket), so each test opens connections
until it has one in the worker it needs, and tells them apart by the process that holds
the server side of the TCP connection (/proc). Proved here: IMAP IDLE in one worker sees a
delivery accepted by the other (both ways); POP3's maildrop lock holds across workers;
mail submitted to a secondary worker is relayed by the primary's queue; a killed worker is
started again and the others keep serving; SIGTERM stops them all.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import poplib
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.support.peer_smtp import PeerSmtp
from tests.support.peers import free_ports
from tests.support.pgdb import PgTestDatabase

pytestmark = pytest.mark.slow

PY = [sys.executable, "-m", "posthouse"]
USER, PASSWORD = "ann@example.test", "workers-pass-1"
BOUND = 60.0  # only a bound on waiting: no test asserts a duration
TRIES = 60  # connections opened at most to land one in a given worker
C = TypeVar("C")


class Workers:
    """``posthouse serve`` with two workers; output to a file."""

    def __init__(self, data: Path, ports: dict[str, int]) -> None:
        self.data = data
        self.ports = ports
        self.log = data.parent / "serve.log"
        listen = [arg for proto, port in ports.items()
                  for arg in ("--listen", f"{proto}=127.0.0.1:{port}")]
        off = [arg for proto in ("submissions", "imaps", "pop3s", "http", "https")
               for arg in ("--listen", f"{proto}=off")]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*PY, "serve", "--data-dir", str(data), *listen, *off,
                 "--allow-plaintext-loopback", "--allow-root"],
                stdout=out, stderr=subprocess.STDOUT)
        self.wait_ready()

    def wait_ready(self, count: int = 2) -> list[int]:
        deadline = time.monotonic() + BOUND
        while True:
            text = self.log.read_text(errors="replace")
            pids = self.workers()
            if "\nready\n" in text and len(pids) == count and text.count(" ready") >= count:
                return pids
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("serve did not become ready:\n" + text)
            time.sleep(0.05)

    def workers(self) -> list[int]:
        """The worker processes' pids (the parent's children)."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        with contextlib.suppress(OSError):
            return [int(p) for p in path.read_text().split()]
        return []

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(BOUND)


def serving_pid(client: socket.socket, pids: list[int]) -> int | None:
    """The worker holding the server side of this client's TCP connection."""
    mine = client.getsockname()[1]
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(":")[1], 16) == mine and fields[3] == "01":
            inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        return pid
    return None


def in_worker(pid: int, pids: list[int], open_one: Callable[[], C],
              sock_of: Callable[[C], socket.socket], close: Callable[[C], None]) -> C:
    """A client connection served by worker ``pid`` (others opened on the way are closed)."""
    for _ in range(TRIES):
        client = open_one()
        if serving_pid(sock_of(client), pids) == pid:
            return client
        close(client)
    raise AssertionError(f"no connection landed in worker {pid} in {TRIES} tries")


def imap_idle(port: int) -> imaplib.IMAP4:
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=BOUND)
    imap.login(USER, PASSWORD)
    imap.select("INBOX")
    return imap


def start_idle(imap: imaplib.IMAP4) -> None:
    imap.send(b"I1 IDLE\r\n")
    assert imap.readline().startswith(b"+")


def wait_exists(imap: imaplib.IMAP4, count: int) -> None:
    """Read IDLE's untagged responses until ``* count EXISTS``."""
    want = f"* {count} EXISTS".encode()
    seen = b""
    while want not in seen:
        line = imap.readline()
        assert line, seen
        seen += line


def close_imap(imap: imaplib.IMAP4) -> None:
    with contextlib.suppress(Exception):
        imap.shutdown()


def smtp_client(port: int) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", port, timeout=BOUND)


def deliver(smtp: smtplib.SMTP, subject: str) -> None:
    smtp.sendmail("far@remote.test", [USER],
                  f"From: far@remote.test\r\nTo: {USER}\r\nSubject: {subject}\r\n\r\nhi\r\n")
    smtp.quit()


@pytest.fixture
def peer() -> Iterator[PeerSmtp]:
    started = PeerSmtp().start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def server(tmp_path: Path, peer: PeerSmtp, request: pytest.FixtureRequest) -> Iterator[Workers]:
    """Two workers on the embedded store, or on PostgreSQL (where the store itself spans
    processes: NOTIFY, advisory locks, node claims of the queue)."""
    data = tmp_path / "data"
    store = ""
    if request.param == "postgres":
        database: PgTestDatabase = request.getfixturevalue("pg_database")
        store = f'\n[store]\nurl = "{database.fresh_url()}"\n'

    def cli(*args: str, stdin: str | None = None) -> None:
        done = subprocess.run([*PY, *args], input=stdin, capture_output=True, text=True,
                              timeout=BOUND, check=False)
        assert done.returncode == 0, done.stderr

    cli("init", "--data-dir", str(data), "--hostname", "mx.example.test",
        "--domain", "example.test")
    config = data / "posthouse.toml"
    text = config.read_text()
    config.write_text(re.sub(r"(?m)^\[server\]$", "[server]\nworkers = 2", text, count=1)
                      + "\n[log]\nlevel = \"debug\"\n"
                      "\n[auth]\nargon2_time_cost = 1\nargon2_memory_kib = 1024\n"
                      "argon2_parallelism = 1\n"
                      f"\n[queue]\nsmarthost = \"127.0.0.1:{peer.port}\"\n"
                      "smarthost_tls = \"none\"\n" + store)
    if store:  # init made the domain in the SQLite store
        cli("domain", "add", "example.test", "--data-dir", str(data))
    cli("user", "add", USER, "--password-stdin", "--data-dir", str(data),
        stdin=PASSWORD + "\n")
    ports = dict(zip(("smtp", "submission", "imap", "pop3"), free_ports(4), strict=True))
    workers = Workers(data, ports)
    try:
        yield workers
    finally:
        workers.stop()


def test_idle_in_one_worker_sees_delivery_accepted_by_the_other(server: Workers) -> None:
    pids = server.workers()
    assert len(pids) == 2
    imap_port, smtp_port = server.ports["imap"], server.ports["smtp"]
    idles = {pid: in_worker(pid, pids, lambda: imap_idle(imap_port), lambda c: c.sock,
                            close_imap) for pid in pids}
    for imap in idles.values():
        start_idle(imap)
    try:
        for count, pid in enumerate(pids, start=1):  # accepted by each worker in turn
            smtp = in_worker(pid, pids, lambda: smtp_client(smtp_port), lambda c: c.sock,
                             lambda c: c.close())
            deliver(smtp, f"via worker {pid}")
            for imap in idles.values():  # seen at once in both, without a new command
                wait_exists(imap, count)
    finally:
        for imap in idles.values():
            close_imap(imap)


def pop3_client(port: int) -> poplib.POP3:
    return poplib.POP3("127.0.0.1", port, timeout=BOUND)


def test_pop3_maildrop_lock_holds_across_workers(server: Workers) -> None:
    pids = server.workers()
    port = server.ports["pop3"]
    first = in_worker(pids[0], pids, lambda: pop3_client(port), lambda c: c.sock,
                      lambda c: c.close())
    first.user(USER)
    first.pass_(PASSWORD)
    second = in_worker(pids[1], pids, lambda: pop3_client(port), lambda c: c.sock,
                       lambda c: c.close())
    second.user(USER)
    with pytest.raises(poplib.error_proto, match=r"IN-USE"):  # RFC 2449 8.1.2
        second.pass_(PASSWORD)
    second.close()
    first.quit()
    third = in_worker(pids[1], pids, lambda: pop3_client(port), lambda c: c.sock,
                      lambda c: c.close())
    third.user(USER)
    assert third.pass_(PASSWORD).startswith(b"+OK")  # given back at QUIT
    third.quit()


def test_mail_submitted_to_a_secondary_is_relayed(server: Workers, peer: PeerSmtp) -> None:
    pids = server.workers()
    primary = min(pids)  # the primary starts first
    secondary = max(pids)
    port = server.ports["submission"]
    smtp = in_worker(secondary, pids, lambda: smtp_client(port), lambda c: c.sock,
                     lambda c: c.close())
    smtp.login(USER, PASSWORD)
    smtp.sendmail(USER, ["bob@far.test"],
                  f"From: {USER}\r\nTo: bob@far.test\r\nSubject: relayed\r\n\r\nhello\r\n")
    smtp.quit()
    received = peer.wait_accepted(1, timeout=BOUND)
    assert received[0].rcpts == ["bob@far.test"]
    assert b"Subject: relayed" in received[0].data
    assert primary != secondary


def test_every_queued_message_is_relayed_once_by_one_worker(server: Workers,
                                                            peer: PeerSmtp) -> None:
    """Both workers run a queue worker over the one queue: each entry is claimed by one
    process (store/sqlite/facade_queue.py), so nothing is sent twice."""
    pids = server.workers()
    port = server.ports["submission"]
    count = 0
    for round_ in range(6):
        for pid in pids:  # submitted to each worker in turn, several messages per session
            smtp = in_worker(pid, pids, lambda: smtp_client(port), lambda c: c.sock,
                             lambda c: c.close())
            smtp.login(USER, PASSWORD)
            for n in range(5):
                count += 1
                smtp.sendmail(USER, ["bob@far.test", "eve@far.test"],
                              f"From: {USER}\r\nTo: bob@far.test\r\nMessage-ID: "
                              f"<m{round_}-{pid}-{n}@example.test>\r\nSubject: n{count}\r\n"
                              "\r\nhello\r\n")
            smtp.quit()
    received = peer.wait_accepted(count, timeout=BOUND)
    time.sleep(2)  # a duplicate would arrive now (not a timing assertion: a settle pause)
    ids = [re.search(rb"Message-ID: <([^>]+)>", r.data).group(1)  # type: ignore[union-attr]
           for r in peer.accepted()]
    assert len(ids) == count == len(set(ids)), (len(ids), count, len(set(ids)))
    assert all(sorted(r.rcpts) == ["bob@far.test", "eve@far.test"] for r in received)


def test_killed_worker_is_started_again_and_sigterm_stops_all(server: Workers) -> None:
    before = server.workers()
    victim = max(before)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + BOUND
    while True:
        now = server.workers()
        if len(now) == 2 and victim not in now:
            break
        assert time.monotonic() < deadline, now
        time.sleep(0.1)
    now = server.wait_ready()
    assert victim not in now
    new = next(pid for pid in now if pid not in before)
    imap_port, smtp_port = server.ports["imap"], server.ports["smtp"]
    idle = in_worker(new, now, lambda: imap_idle(imap_port), lambda c: c.sock, close_imap)
    start_idle(idle)
    other = next(pid for pid in now if pid != new)
    smtp = in_worker(other, now, lambda: smtp_client(smtp_port), lambda c: c.sock,
                     lambda c: c.close())
    deliver(smtp, "after the restart")
    wait_exists(idle, 1)
    close_imap(idle)
    assert server.stop() == 0
    for pid in now:
        assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid)


def _state(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    return ""


def test_fetch_of_a_message_expunged_in_the_other_worker(server: Workers) -> None:
    """A view in one worker, an expunge in the other: the message the view still numbers
    is answered without breaking the session (RFC 2180 4.1: NO [EXPUNGEISSUED] or its
    data), and the EXPUNGE is told at the next command that allows it."""
    pids = server.workers()
    smtp = smtp_client(server.ports["smtp"])
    deliver(smtp, "to be expunged")
    port = server.ports["imap"]
    viewer = in_worker(pids[0], pids, lambda: imap_idle(port), lambda c: c.sock, close_imap)
    remover = in_worker(pids[1], pids, lambda: imap_idle(port), lambda c: c.sock, close_imap)
    try:
        assert remover.store("1", "+FLAGS.SILENT", r"(\Deleted)")[0] == "OK"
        assert remover.expunge()[0] == "OK"
        time.sleep(0.5)  # let the event reach the viewer's worker (not a timing assertion)
        typ, data = viewer.fetch("1", "(BODY.PEEK[])")
        if typ == "OK":
            assert b"to be expunged" in b"".join(
                part[1] for part in data if isinstance(part, tuple))
        else:
            assert typ == "NO"
        typ, _data = viewer.noop()
        assert typ == "OK"
        assert viewer.untagged_responses.get("EXPUNGE") == [b"1"]
        typ, data = viewer.select("INBOX")
        assert typ == "OK"
        assert data == [b"0"]
    finally:
        close_imap(viewer)
        close_imap(remover)


def test_a_login_verified_in_one_worker_is_cached_in_the_other(server: Workers) -> None:
    """The workers share their login cache (app.py _share_logins): a password verified in
    one worker is answered from the cache in the other, without an argon2 hash of its own
    (the debug log line of each verification is counted); a wrong one is still hashed and
    refused."""
    pids = server.workers()
    port = server.ports["imap"]

    def hashes() -> int:
        return server.log.read_text(errors="replace").count("argon2 verification took")

    before = hashes()
    first = in_worker(pids[0], pids, lambda: imaplib.IMAP4("127.0.0.1", port, timeout=BOUND),
                      lambda c: c.sock, close_imap)
    first.login(USER, PASSWORD)
    assert hashes() == before + 1
    time.sleep(0.5)  # the entry's message to the other worker (not a timing assertion)
    second = in_worker(pids[1], pids, lambda: imaplib.IMAP4("127.0.0.1", port, timeout=BOUND),
                       lambda c: c.sock, close_imap)
    second.login(USER, PASSWORD)
    assert hashes() == before + 1
    third = in_worker(pids[1], pids, lambda: imaplib.IMAP4("127.0.0.1", port, timeout=BOUND),
                      lambda c: c.sock, close_imap)
    with pytest.raises(imaplib.IMAP4.error):
        third.login(USER, PASSWORD + "x")
    assert hashes() == before + 2
    for imap in (first, second, third):
        close_imap(imap)


def test_backup_while_workers_serve_skips_their_run_dir(server: Workers,
                                                        tmp_path: Path) -> None:
    """``posthouse backup`` beside a running parent and workers: it copies the store, not
    the workers' sockets and lock files (store/datalock.py RUN_DIR)."""
    if "[store]" in (server.data / "posthouse.toml").read_text():
        pytest.skip("backup copies the SQLite store; PostgreSQL has its own tools")
    deliver(smtp_client(server.ports["smtp"]), "backed up")
    assert (server.data / "run").is_dir()
    repo = tmp_path / "repo"
    done = subprocess.run([*PY, "backup", "--data-dir", str(server.data), str(repo)],
                          capture_output=True, text=True, timeout=BOUND, check=False)
    assert done.returncode == 0, done.stderr
    snapshots = list((repo / "snapshots").iterdir())
    assert len(snapshots) == 1
    assert not (snapshots[0] / "files" / "run").exists()
    assert not any(part == "run" for path in snapshots[0].rglob("*")
                   for part in path.relative_to(snapshots[0]).parts[:2])
