"""kill -9 of one of two PostgreSQL nodes during a burst of SMTP deliveries to both (issue 18).

Nodes A and B are ``posthouse serve`` child processes with data dirs of their own on one
PostgreSQL schema (``[store] queue_lease_seconds`` short, so the test need not wait ten
minutes). Before the burst A claims three queued outbound messages and hangs in the attempt
(the SMTP peer says nothing to MAIL), with B not yet running, so the claims are A's. Then
client threads deliver over SMTP to both nodes, each message with a unique Message-ID; mid
burst A gets SIGKILL. Afterwards, read back over IMAP on B:

- every message acknowledged (250 after the final dot) by either node is there exactly once,
  and nothing is there twice; one whose answer was lost to the kill is there at most once;
- B answered throughout: its client thread saw no error and got 250s after the kill;
- B took over A's claims after the lease and relayed each queued message exactly once.

Waits have deadlines only so that a hang fails the test; nothing asserts a duration.
"""

from __future__ import annotations

import asyncio
import imaplib
import os
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path

import psycopg
import pytest

from posthouse.store.models import OutboundEnvelope, OutboundRecipient
from tests.faults.test_kill9_over_sockets import free_ports
from tests.support.dnsserver import DnsServer
from tests.support.peer_smtp import PeerSmtp
from tests.support.pgdb import PgTestDatabase

pytestmark = [pytest.mark.faults, pytest.mark.slow]

PY = [sys.executable, "-m", "posthouse"]
USER = "pat@example.test"
PASSWORD = "node-kill-pass"
LEASE = 5  # [store] queue_lease_seconds for both nodes
QUEUED = 3
BOUND = 120.0  # only a bound on waiting: no test asserts a duration
MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([^>]+)>", re.IGNORECASE | re.MULTILINE)


class Node:
    """``posthouse serve`` as a child process on its own data dir; output goes to a file."""

    def __init__(self, root: Path, name: str, url: str, dns: DnsServer, peer: PeerSmtp) -> None:
        self.name = name
        self.data = root / name
        self.data.mkdir(mode=0o700)
        self.ports = dict(zip(("smtp", "imap"), free_ports(2), strict=True))
        off = "\n".join(f"{p} = []" for p in ("submission", "submissions", "imaps", "pop3",
                                               "pop3s", "http", "https"))
        self.config = root / f"{name}.toml"
        self.config.write_text(
            f'[server]\nhostname = "{name}.example.test"\ndata_dir = "{self.data}"\n'
            f'[listen]\nsmtp = ["127.0.0.1:{self.ports["smtp"]}"]\n'
            f'imap = ["127.0.0.1:{self.ports["imap"]}"]\n{off}\n'
            "[auth]\nargon2_time_cost = 1\nargon2_memory_kib = 1024\nargon2_parallelism = 1\n"
            "allow_plaintext_on_loopback = true\n"
            f'[store]\nurl = "{url}"\nqueue_lease_seconds = {LEASE}\n'
            f'[queue]\nresolver = "{dns.address}"\noutbound_port = {peer.port}\n'
            "retry_initial_seconds = 1\n", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str, stdin: str | None = None) -> None:
        done = subprocess.run([*PY, *args, "--config", str(self.config)], input=stdin,
                              capture_output=True, text=True, timeout=BOUND, check=False)
        assert done.returncode == 0, done.stderr

    def start(self) -> None:
        log = self.data.parent / f"{self.name}.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*PY, "serve", "--config", str(self.config), "--allow-root"],
                stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + BOUND
        while b"ready\n" not in log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not become ready:\n{log.read_text()}")
            time.sleep(0.05)

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


@dataclass
class Ledger:
    """What the SMTP clients were told, per node."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # node: (id, when)
    unanswered: set[str] = field(default_factory=set)  # sent, answer lost
    errors: dict[str, list[str]] = field(default_factory=dict)

    def ack(self, node: str, mid: str) -> None:
        with self.lock:
            self.acked.setdefault(node, []).append((mid, time.monotonic()))

    def lost(self, node: str, mid: str, why: str) -> None:
        with self.lock:
            self.unanswered.add(mid)
            self.errors.setdefault(node, []).append(why)

    def refused(self, node: str, why: str) -> None:
        with self.lock:
            self.errors.setdefault(node, []).append(why)

    def count(self, node: str) -> int:
        with self.lock:
            return len(self.acked.get(node, []))


def sender(node: Node, ledger: Ledger, stop: threading.Event) -> None:
    """Deliver messages to ``node`` one connection each, until ``stop``; after the first
    failure (the node is gone) keep trying only until ``stop``."""
    n = 0
    while not stop.is_set():
        n += 1
        mid = f"{node.name}-{n}@burst.test"
        body = (f"From: burst@remote.test\r\nTo: {USER}\r\nSubject: {mid}\r\n"
                f"Message-ID: <{mid}>\r\n\r\nbody of {mid}\r\n").encode()
        try:
            with smtplib.SMTP("127.0.0.1", node.ports["smtp"], timeout=30) as client:
                client.sendmail("burst@remote.test", [USER], body)
        except ConnectionRefusedError as exc:  # the node is gone: nothing was sent
            ledger.refused(node.name, repr(exc))
            time.sleep(0.1)
            continue
        except (OSError, smtplib.SMTPException) as exc:
            ledger.lost(node.name, mid, repr(exc))
            time.sleep(0.1)
            continue
        ledger.ack(node.name, mid)


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not check():
        assert time.monotonic() < deadline, f"not reached in time: {what}"
        time.sleep(0.05)


async def _enqueue(url: str) -> None:
    from posthouse.message.summary import message_text, summarize
    from posthouse.store.postgres.backend import PostgresStore

    store = PostgresStore(url, summarize=summarize, message_text=message_text)
    await store.open()
    try:
        for i in range(QUEUED):
            await store.enqueue(
                f"From: {USER}\r\nSubject: queued {i}\r\n\r\nqueued {i}\r\n".encode(),
                OutboundEnvelope(USER, (OutboundRecipient(f"r{i}@peer.test"),)))
    finally:
        await store.close()


def claims(url: str) -> Counter[str]:
    """Queue entries by the node that holds a claim on them."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT claimed_by FROM queue WHERE claimed_by IS NOT NULL")
        return Counter(str(r[0]) for r in rows)


def mailbox_ids(node: Node) -> list[str]:
    """The Message-IDs in the user's INBOX, read over IMAP on ``node`` (repeats kept)."""
    imap = imaplib.IMAP4("127.0.0.1", node.ports["imap"], timeout=60)
    try:
        imap.login(USER, PASSWORD)
        typ, data = imap.select("INBOX", readonly=True)
        assert typ == "OK", data
        if data[0] == b"0":
            return []
        typ, fetched = imap.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        assert typ == "OK", fetched
        found = []
        for part in fetched:
            if isinstance(part, tuple):
                match = MESSAGE_ID.search(part[1])
                assert match is not None, part
                found.append(match.group(1).decode())
        return found
    finally:
        imap.logout()


@pytest.fixture
def peer() -> Iterator[PeerSmtp]:
    """The private SMTP peer the nodes' queues relay to."""
    server = PeerSmtp().start()
    yield server
    server.stop()


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer({"peer.test": {"MX": ["10 mx.peer.test."]},
                        "mx.peer.test": {"A": ["127.0.0.1"]}}).start()
    yield server
    server.stop()


def test_kill9_of_one_node_loses_nothing_and_the_other_takes_over(
        pg_database: PgTestDatabase, tmp_path: Path, dns_server: DnsServer,
        peer: PeerSmtp) -> None:
    url = pg_database.fresh_url()
    a = Node(tmp_path, "a", url, dns_server, peer)
    b = Node(tmp_path, "b", url, dns_server, peer)
    a.cli("domain", "add", "example.test")
    a.cli("user", "add", USER, "--password-stdin", stdin=PASSWORD + "\n")
    ledger = Ledger()
    stop = threading.Event()
    threads = [threading.Thread(target=sender, args=(n, ledger, stop), daemon=True)
               for n in (a, b)]
    peer.replies["MAIL"] = ["HANG"] * QUEUED  # A's attempts hang, holding their claims
    try:
        a.start()
        asyncio.run(_enqueue(url))
        wait_for(lambda: any(c.startswith("MAIL") for c in peer.commands), "A's attempt")
        wait_for(lambda: sum(claims(url).values()) == QUEUED, "A's claims")
        (a_node,) = claims(url)  # one node, A, holds them all
        peer.replies["MAIL"] = []  # from now on the peer answers
        b.start()
        for t in threads:
            t.start()
        wait_for(lambda: ledger.count("a") >= 15 and ledger.count("b") >= 15, "the burst")
        a.kill9()  # mid burst: A's client has a message in flight or about to be
        killed = time.monotonic()
        after = ledger.count("b")
        wait_for(lambda: ledger.count("b") >= after + 15, "B serving after the kill")
        stop.set()
        for t in threads:
            t.join(BOUND)
        # A's claims: taken over by B after the lease, each message relayed once
        parser = BytesHeaderParser()

        def relayed() -> Counter[str]:
            return Counter(str(parser.parsebytes(m.data)["Subject"]) for m in peer.accepted())

        wait_for(lambda: len(relayed()) == QUEUED, "B relaying A's claimed messages")
        wait_for(lambda: sum(claims(url).values()) == 0 and a_node not in claims(url),
                 "the claims to end")
        assert relayed() == Counter({f"queued {i}": 1 for i in range(QUEUED)})
        assert {m.helo for m in peer.accepted()} == {"b.example.test"}
        took_over = next(m for m in peer.accepted())
        print(f"\nB relayed A's claimed messages (first at connection {took_over.connection})"
              f"; the lease is {LEASE} s")
        found = Counter(mailbox_ids(b))
    finally:
        stop.set()
        a.stop()
        b.stop()
    acked = {mid for node in ledger.acked.values() for mid, _ in node}
    twice = [mid for mid, n in found.items() if n > 1]
    assert twice == []
    missing = sorted(acked - set(found))
    assert missing == []
    assert set(found) <= acked | ledger.unanswered  # nothing no client sent
    assert ledger.errors.get("b", []) == []  # B answered every message, before and after
    assert any(when > killed for _mid, when in ledger.acked["b"])
    print(f"acked by A {ledger.count('a')}, by B {ledger.count('b')}; answers lost to the "
          f"kill {len(ledger.unanswered)}, of which stored {len(ledger.unanswered & set(found))}")
