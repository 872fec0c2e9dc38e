"""kill -9 of the running server under load over real sockets, three times: exactly once.

``posthouse serve`` runs as a child process on a data directory of its own. Client threads
keep it busy over TCP the whole time: SMTP deliveries (each with a unique Message-ID, to ann@
or pat@), IMAP APPENDs to ann's INBOX (unique too), and POP3 sessions on pat's maildrop that
RETR and DELE a few messages and QUIT. Mid-load the server gets SIGKILL, is started again on
the same data directory, and the clients carry on; three cycles. Then, on a last clean start,
every mailbox is read back over IMAP and checked against what the clients were told:

- a message acknowledged (250 after the final dot, tagged OK to APPEND) is there exactly once,
  unless a POP3 QUIT that got +OK deleted it (then it is gone) or a QUIT whose answer was lost
  to the kill may have (then it is there at most once);
- a message the server refused (a 4xx/5xx after DATA, NO to APPEND) is not there;
- a message whose answer was lost to the kill is there at most once;
- nothing is there that no client sent, and nothing is there twice;
- the store on disk passes the integrity checks of the SQLite crash tests.

The store's own crash test (tests/backends/test_sqlite_crash.py) kills a process that writes
to the store directly; this one kills the whole server between the protocols and the disk.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import poplib
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.backends.sqlite_checks import integrity_problems
from tests.support.peers import free_ports

pytestmark = [pytest.mark.faults, pytest.mark.slow]

PY = [sys.executable, "-m", "posthouse"]
ANN, PAT = "ann@example.test", "pat@example.test"
PASSWORD = "kill-nine-pass"
CYCLES = 3
ACKS_PER_CYCLE = 8  # each kind of client gets this many answers before the kill
BOUND = 120.0  # only a bound on waiting for the server: no test asserts a duration
MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([^>]+)>", re.IGNORECASE | re.MULTILINE)


def message(mid: str, to: str) -> bytes:
    return (f"From: load@remote.test\r\nTo: {to}\r\nSubject: {mid}\r\n"
            f"Message-ID: <{mid}>\r\n\r\nbody of {mid}\r\n" + "x" * 200 + "\r\n").encode()


def message_id(data: bytes) -> str:
    found = MESSAGE_ID.search(data)
    assert found is not None, data[:200]
    return found.group(1).decode()


@dataclass
class Ledger:
    """What the clients were told, shared by every client thread."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: set[str] = field(default_factory=set)  # every message a client started to send
    acked: set[str] = field(default_factory=set)  # 250 after DATA, OK to APPEND
    refused: set[str] = field(default_factory=set)  # a definite 4xx/5xx or NO
    deleted: set[str] = field(default_factory=set)  # DELEd in a session whose QUIT got +OK
    maybe_deleted: set[str] = field(default_factory=set)  # QUIT sent, answer lost
    answers: Counter[str] = field(default_factory=Counter)  # answers per kind, all cycles

    def start(self, mid: str) -> None:
        with self.lock:
            self.sent.add(mid)

    def note(self, kind: str, mid: str | None = None, *, ok: bool = True) -> None:
        with self.lock:
            if mid is not None:
                (self.acked if ok else self.refused).add(mid)
            self.answers[kind] += 1


class Server:
    """``posthouse serve`` as a child process; its output goes to a file, never a pipe that
    could fill up while nobody reads it."""

    def __init__(self, data: Path, ports: dict[str, int], workers: int = 1) -> None:
        self.data = data
        self.ports = ports
        self.workers = workers  # [server] workers of the data dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log = data.parent / "serve-0.log"

    def start(self) -> None:
        self.starts += 1
        log = self.log = self.data.parent / f"serve-{self.starts}.log"
        listen = [arg for proto in ("smtp", "imap", "pop3") for arg in
                  ("--listen", f"{proto}=127.0.0.1:{self.ports[proto]}")]
        off = [arg for proto in ("submission", "submissions", "imaps", "pop3s", "http", "https")
               for arg in
               ("--listen", f"{proto}=off")]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*PY, "serve", "--data-dir", str(self.data), *listen, *off,
                 "--allow-plaintext-loopback", "--allow-root"],
                stdout=out, stderr=subprocess.STDOUT)
        self.wait_ready(self.workers)

    def wait_ready(self, readies: int) -> None:
        """Until serve said ready (with workers: until ``readies`` workers said so)."""
        assert self.proc is not None
        deadline = time.monotonic() + BOUND
        while True:
            text = self.log.read_bytes()
            if b"\nready\n" in text and (self.workers == 1
                                          or text.count(b") ready") >= readies):
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("serve did not become ready:\n" + self.log.read_text())
            time.sleep(0.05)

    def children(self) -> list[int]:
        """The worker processes (with workers > 1)."""
        assert self.proc is not None
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return sorted(int(p) for p in path.read_text().split())

    def crash(self, cycle: int) -> None:
        """kill -9: the whole server (then start it again), or with workers one worker,
        the primary or a secondary in turn, which the parent starts again."""
        if self.workers == 1:
            self.kill9()
            self.start()
            return
        text = self.log.read_text()
        readies = text.count(") ready")
        primary = int(re.findall(r"worker 0 \(pid (\d+)\) ready", text)[-1])
        secondary = next(pid for pid in self.children() if pid != primary)
        victim = primary if cycle % 2 else secondary
        os.kill(victim, signal.SIGKILL)
        # a killed primary restarts both workers; a killed secondary only itself
        self.wait_ready(readies + (2 if victim == primary else 1))

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(BOUND) == -signal.SIGKILL
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(BOUND)
            self.proc = None


class Pop3(poplib.POP3):
    """poplib.POP3 that closes its socket when the greeting never comes (a killed server)."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        try:
            super().__init__(host, port, timeout)
        except BaseException:
            for name in ("file", "sock"):
                with contextlib.suppress(OSError):
                    closing = getattr(self, name, None)
                    if closing is not None:
                        closing.close()
            raise


class Load:
    """Client threads that keep going across kills until ``stop``; a failed connection is
    retried after a short pause (the server may be down)."""

    def __init__(self, ledger: Ledger, ports: dict[str, int]) -> None:
        self.ledger = ledger
        self.ports = ports
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self.threads = [
            *(threading.Thread(target=self._guard(self.smtp_client), args=(f"s{i}",))
              for i in range(3)),
            *(threading.Thread(target=self._guard(self.imap_client), args=(f"i{i}",))
              for i in range(2)),
            threading.Thread(target=self._guard(self.pop3_client), args=("p0",)),
        ]

    def _guard(self, body: Callable[[str], None]) -> Callable[[str], None]:
        def run(name: str) -> None:
            try:
                body(name)
            except BaseException as exc:  # reported by stop(): a test bug or a server bug
                self.errors.append(exc)
        return run

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(BOUND)
        assert not any(t.is_alive() for t in self.threads), "a client thread hangs"
        if self.errors:
            raise self.errors[0]

    def _pause(self) -> None:
        self.stopping.wait(0.05)

    def smtp_client(self, name: str) -> None:
        n = 0
        while not self.stopping.is_set():
            try:
                with smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=30) as smtp:
                    smtp.ehlo("load.remote.test")
                    while not self.stopping.is_set():
                        n += 1
                        mid = f"smtp-{name}-{n}@load.test"
                        to = ANN if n % 2 else PAT
                        self.ledger.start(mid)
                        try:
                            smtp.sendmail("load@remote.test", [to], message(mid, to))
                        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError,
                                smtplib.SMTPSenderRefused):
                            self.ledger.note("smtp", mid, ok=False)
                            smtp.rset()
                        else:
                            self.ledger.note("smtp", mid)
            except (OSError, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError):
                self._pause()  # the answer to the message in flight, if any, was lost

    def imap_client(self, name: str) -> None:
        n = 0
        while not self.stopping.is_set():
            try:
                imap = imaplib.IMAP4("127.0.0.1", self.ports["imap"], timeout=30)
                try:
                    imap.login(ANN, PASSWORD)
                    while not self.stopping.is_set():
                        n += 1
                        mid = f"imap-{name}-{n}@load.test"
                        self.ledger.start(mid)
                        status, _ = imap.append("INBOX", None, None, message(mid, ANN))
                        self.ledger.note("imap", mid, ok=status == "OK")
                finally:
                    with contextlib.suppress(OSError, imaplib.IMAP4.error):
                        imap.shutdown()
            except (OSError, imaplib.IMAP4.abort):
                self._pause()

    def pop3_client(self, name: str) -> None:
        while not self.stopping.is_set():
            try:
                pop = Pop3("127.0.0.1", self.ports["pop3"], timeout=30)
            except (OSError, poplib.error_proto):
                self._pause()
                continue
            dele: list[str] = []
            quit_sent = False
            try:
                pop.user(PAT)
                pop.pass_(PASSWORD)
                count, _ = pop.stat()
                for number in range(1, min(count, 3) + 1):
                    _, lines, _ = pop.retr(number)
                    mid = message_id(b"\r\n".join(lines))
                    pop.dele(number)
                    dele.append(mid)
                quit_sent = True
                pop.quit()
            except (OSError, poplib.error_proto) as exc:
                pop.close()
                # poplib reports a connection closed mid-reply as error_proto("-ERR EOF") (a
                # str); the server's own -ERR lines come as bytes.
                lost = isinstance(exc, OSError) or exc.args == ("-ERR EOF",)
                if lost and quit_sent:  # the QUIT may have been carried out before the kill
                    with self.ledger.lock:
                        self.ledger.maybe_deleted.update(dele)
                if not lost:  # -ERR: locked, or the update failed: nothing deleted
                    self.ledger.note("pop3")
                self._pause()
                continue
            with self.ledger.lock:
                self.ledger.deleted.update(dele)
            self.ledger.note("pop3")
            if not dele:
                self._pause()  # an empty maildrop: let the deliveries catch up


def wait_for_answers(ledger: Ledger, server: Server, before: Counter[str]) -> None:
    """Until every kind of client got ACKS_PER_CYCLE more answers than ``before``."""
    deadline = time.monotonic() + BOUND
    while any(ledger.answers[k] - before[k] < ACKS_PER_CYCLE for k in ("smtp", "imap", "pop3")):
        assert server.proc is not None
        assert server.proc.poll() is None, "the server died by itself"
        assert time.monotonic() < deadline, f"no progress: {ledger.answers}"
        time.sleep(0.02)


def mailbox_contents(port: int, user: str) -> list[str]:
    """The Message-ID of every message in every mailbox of ``user``, read over IMAP."""
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    try:
        imap.login(user, PASSWORD)
        status, listing = imap.list()
        assert status == "OK"
        names = [re.search(rb'"([^"]*)"\s*$|(\S+)\s*$', line) for line in listing
                 if isinstance(line, bytes)]
        found: list[str] = []
        for match in names:
            assert match is not None
            name = (match.group(1) or match.group(2)).decode()
            status, data = imap.select(f'"{name}"', readonly=True)
            assert status == "OK", (name, data)
            if int(data[0] or 0) == 0:
                continue
            status, items = imap.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            assert status == "OK"
            found += [message_id(item[1]) for item in items if isinstance(item, tuple)]
        return found
    finally:
        imap.logout()


@pytest.fixture
def data_dir(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    data = tmp_path / "data"

    def cli(*args: str, stdin: str | None = None) -> None:
        done = subprocess.run([*PY, *args], input=stdin, capture_output=True, text=True,
                              timeout=BOUND, check=False)
        assert done.returncode == 0, done.stderr

    cli("init", "--data-dir", str(data), "--hostname", "mx.example.test",
        "--domain", "example.test")
    workers = getattr(request, "param", 1)
    config = data / "posthouse.toml"
    text = config.read_text().replace("[server]\n", f"[server]\nworkers = {workers}\n", 1)
    # cheap hashes: many logins below
    config.write_text(text + "\n[auth]\nargon2_time_cost = 1\nargon2_memory_kib = 1024\n"
                      "argon2_parallelism = 1\n")
    for user in (ANN, PAT):
        cli("user", "add", user, "--password-stdin", "--data-dir", str(data),
            stdin=PASSWORD + "\n")
    return data


@pytest.mark.parametrize("data_dir", [1, 2], indirect=True, ids=["one-process", "workers"])
def test_kill9_under_smtp_append_and_pop3_load_is_exactly_once(data_dir: Path) -> None:
    """With ``workers = 2`` the kills hit one worker at a time (the parent starts it again
    and the other keeps serving); the final checks are the same."""
    workers = int(next(line.split("=")[1] for line in
                       (data_dir / "posthouse.toml").read_text().splitlines()
                       if line.startswith("workers =")))
    ports = dict(zip(("smtp", "imap", "pop3"), free_ports(3), strict=True))
    server = Server(data_dir, ports, workers)
    ledger = Ledger()
    load = Load(ledger, ports)
    server.start()
    load.start()
    try:
        for cycle in range(CYCLES):
            wait_for_answers(ledger, server, Counter(ledger.answers))
            server.crash(cycle)  # mid-load: every client has a command in flight or about to be
        wait_for_answers(ledger, server, Counter(ledger.answers))
    finally:
        try:
            load.stop()
        finally:
            if server.proc is not None:
                server.stop()

    server.start()  # a clean start on what the last kill left, then read everything back
    try:
        present = Counter(mailbox_contents(ports["imap"], ANN)
                          + mailbox_contents(ports["imap"], PAT))
    finally:
        server.stop()

    with ledger.lock:
        sent, acked, refused = ledger.sent, ledger.acked, ledger.refused
        deleted, maybe_deleted = ledger.deleted, ledger.maybe_deleted
    in_doubt = sent - acked - refused
    print(f"sent {len(sent)}, acknowledged {len(acked)}, refused {len(refused)}, answer lost"
          f" {len(in_doubt)}; POP3 deleted {len(deleted)} (+{len(maybe_deleted)} in doubt);"
          f" present {len(present)}")
    assert acked, "the load acknowledged nothing"
    assert deleted, "no POP3 session deleted anything"
    assert in_doubt, "no kill cut a message in flight: the load was not running"
    assert not set(present) - sent, "messages nobody sent"
    assert [mid for mid, n in present.items() if n > 1] == [], "duplicates"
    assert not deleted & set(present), "deleted by a QUIT answered +OK, yet still there"
    lost = acked - deleted - maybe_deleted - set(present)
    assert not lost, f"acknowledged, never deleted, and gone: {sorted(lost)[:10]}"
    assert not refused & set(present), "refused, yet delivered"
    assert deleted <= sent - refused, "deleted something never delivered"
    assert integrity_problems(data_dir) == []
