"""IMAP: N concurrent imaplib clients doing a realistic session mix, and memory per IDLE.

A session: LOGIN, SELECT INBOX, FETCH the header summary of every message, FETCH 10 bodies,
STORE/unSTORE flags on 5, SEARCH UNSEEN, SEARCH SUBJECT, APPEND a message, NOOP, flag it
\\Deleted, EXPUNGE, IDLE/DONE, LOGOUT; the mailbox ends as it began. Each client is its own user
with the same 200 messages. Every command is timed: "KIND ops/s" is clients / mean latency of
that kind (SEARCH counts ALL, UNSEEN and SUBJECT; STORE all three), the rate the server
completes it within the mix. Then K connections are opened and left in IDLE: memory per
connection is posthouse's VmRSS growth (/proc/PID/status) and Dovecot's PSS growth over its
process tree (one imap process per connection; VmRSS would count shared pages K times); then
--idle-many connections (default 1000) to posthouse alone, for its total RSS.

    .venv/bin/python -m bench.bench_imap --quick
"""

from __future__ import annotations

import contextlib
import imaplib
import random
import re
import socket
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.peers import LOOPBACK, sample_message

from bench.common import (
    DOMAIN,
    PASSWORD,
    Metrics,
    Refused,
    Table,
    bench,
    crlf,
    mailbox,
    mailbox_options,
    parser,
    pss_tree_kib,
    quick_or,
    vm_rss_kib,
    with_mailboxes,
)

HEADER_ITEMS = "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])"
APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]")


def _uids(data: Sequence[object]) -> list[bytes]:
    first = data[0] if data else b""
    return first.split() if isinstance(first, bytes) else []


class Timed:
    """One client's commands: how many of each kind and the seconds they took."""

    def __init__(self, client: imaplib.IMAP4) -> None:
        self.client = client
        self.count: Counter[str] = Counter()
        self.seconds: dict[str, float] = defaultdict(float)

    def __call__(self, kind: str, command: Callable[[], tuple[str, Sequence[object]]],
                 ok: tuple[str, ...] = ("OK",)) -> Sequence[object]:
        """Run one command, time it under kind; Refused unless its status is in ok."""
        started = time.perf_counter()
        status, data = command()
        self.seconds[kind] += time.perf_counter() - started
        self.count[kind] += 1
        if status not in ok:
            raise Refused(f"{kind}: {status} {data!r}")
        return data

    def idle(self) -> tuple[str, Sequence[object]]:
        """IDLE until the continuation, then DONE (imaplib has no IDLE before 3.14)."""
        client = self.client
        tag = client._new_tag()
        client.send(tag + b" IDLE\r\n")
        while not (line := client.readline()).startswith(b"+"):
            if not line or line.startswith(tag):
                return "NO", [line]
        client.send(b"DONE\r\n")
        while not (line := client.readline()).startswith(tag + b" "):
            if not line:
                return "BYE", [line]
        return line[len(tag) + 1:].split(b" ", 1)[0].decode(), [line]


def imap_session(port: int, user: str, rng: random.Random, serial: int) -> Timed:
    """One session of the mix, every command timed."""
    client = imaplib.IMAP4(LOOPBACK, port, timeout=60)
    t = Timed(client)
    try:
        t("LOGIN", lambda: client.login(user, PASSWORD))
        t("SELECT", lambda: client.select("INBOX"))
        t("FETCH headers", lambda: client.uid("FETCH", "1:*", HEADER_ITEMS))
        uids = _uids(t("SEARCH", lambda: client.uid("SEARCH", "ALL")))
        if len(uids) < 10:
            raise Refused(f"{user} has only {len(uids)} messages")
        picked = b",".join(rng.sample(uids, 10)).decode()
        flagged = b",".join(rng.sample(uids, 5)).decode()
        t("FETCH bodies", lambda: client.uid("FETCH", picked, "(UID BODY.PEEK[])"))
        t("STORE", lambda: client.uid("STORE", flagged, "+FLAGS", r"(\Seen \Flagged)"))
        t("STORE", lambda: client.uid("STORE", flagged, "-FLAGS", r"(\Seen \Flagged)"))
        t("SEARCH", lambda: client.uid("SEARCH", "UNSEEN"))
        subject = f'"message {rng.randrange(1, 200)}"'
        t("SEARCH", lambda: client.uid("SEARCH", "SUBJECT", subject))
        _append_and_expunge(client, t, user, serial)
        t("IDLE", t.idle)
    except BaseException:
        client.shutdown()
        raise
    t("LOGOUT", client.logout, ok=("BYE", "OK"))
    return t


def _append_and_expunge(client: imaplib.IMAP4, t: Timed, user: str, serial: int) -> None:
    data = crlf(sample_message(100000 + serial, 3000, recipient=user))
    reply = t("APPEND", lambda: client.append("INBOX", r"(\Seen)", None, data))
    t("NOOP", client.noop)
    found = APPENDUID.search(reply[0]) if reply and isinstance(reply[0], bytes) else None
    if found:
        uid = found.group(1).decode()
    else:
        hits = _uids(t("SEARCH", lambda: client.uid("SEARCH", "HEADER", "Message-ID",
                                                    f"sample-{100000 + serial}@")))
        uid = hits[-1].decode() if hits else ""
    if not uid:
        raise Refused("cannot find the appended message")
    t("STORE", lambda: client.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)"))
    t("EXPUNGE", client.expunge)


def measure_mix(port: int, users: list[str], loops: int) -> Metrics:
    """Every user's client runs loops sessions, all concurrently (threads).

    Besides sessions/s and commands/s overall, "KIND ops/s" is the rate at which the server
    completed that kind of command during the mix: clients / mean latency of that kind."""
    def client(index: int) -> list[Timed]:
        rng = random.Random(index)
        return [imap_session(port, users[index], rng, index * 1000 + n) for n in range(loops)]

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        timings = [t for per_client in pool.map(client, range(len(users))) for t in per_client]
    seconds = time.perf_counter() - started
    count: Counter[str] = Counter()
    busy: dict[str, float] = defaultdict(float)
    for t in timings:
        count.update(t.count)
        for kind, spent in t.seconds.items():
            busy[kind] += spent
    metrics = {"sessions/s": len(users) * loops / seconds,
               "commands/s": count.total() / seconds}
    for kind in count:
        metrics[f"{kind} ops/s"] = len(users) * count[kind] / busy[kind]
    return metrics


# --- memory per IDLE connection ------------------------------------------------------------


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class IdleConnection:
    """A raw IMAP connection logged in, INBOX selected, sitting in IDLE."""

    def __init__(self, port: int, user: str) -> None:
        self.sock = socket.create_connection((LOOPBACK, port), timeout=30)
        self.file = self.sock.makefile("rb")
        self._line()  # greeting
        self._command(b"a1", f"LOGIN {_quote(user)} {_quote(PASSWORD)}")
        self._command(b"a2", "SELECT INBOX")
        self.sock.sendall(b"a3 IDLE\r\n")
        while not self._line().startswith(b"+"):
            pass

    def _line(self) -> bytes:
        line = self.file.readline()
        if not line:
            raise Refused("the server closed an IDLE connection")
        return line

    def _command(self, tag: bytes, text: str) -> None:
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        while True:
            line = self._line()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise Refused(f"{text.split()[0]}: {line!r}")
                return

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"DONE\r\na4 LOGOUT\r\n")
        self.file.close()
        self.sock.close()


def measure_idle(port: int, users: list[str], count: int, memory: Callable[[], int]) -> Metrics:
    """Open count IDLE connections; memory growth per connection in KiB, and the server's
    whole memory (RSS, or PSS over a process tree) while they are open, in MiB."""
    time.sleep(1.0)  # let processes of earlier sessions exit first
    before = memory()
    conns: list[IdleConnection] = []
    try:
        for i in range(count):
            conns.append(IdleConnection(port, users[i % len(users)]))
        time.sleep(1.0)
        after = memory()
    finally:
        for conn in conns:
            conn.close()
    return {"KiB per IDLE connection": (after - before) / count,
            "server MiB with them open": after / 1024}


def main(argv: list[str] | None = None) -> int:
    p = parser("IMAP session mix and memory per IDLE: posthouse vs Dovecot")
    p.add_argument("--clients", type=int, help="concurrent clients (default 10, quick 2)")
    p.add_argument("--loops", type=int, help="sessions per client (default 10, quick 2)")
    p.add_argument("--idle", type=int, help="IDLE connections (default 200, quick 20)")
    p.add_argument("--idle-many", type=int, help="IDLE connections to posthouse alone "
                   "(default 1000, quick 100; 0: skip)")
    mailbox_options(p)
    args = p.parse_args(argv)
    clients = quick_or(args, args.clients, 2, 10)
    loops = quick_or(args, args.loops, 2, 10)
    idle = quick_or(args, args.idle, 20, 200)
    many = 0 if args.idle_many == 0 else quick_or(args, args.idle_many, 100, 1000)
    users = [f"imap{i}@{DOMAIN}" for i in range(1, clients + 1)]
    messages = mailbox(args.messages)
    table = Table("IMAP: session mix and idle memory -> posthouse vs Dovecot", "dovecot")
    with bench(args, "IMAP", table) as b:
        ph, dv = with_mailboxes(b, "imap", users, messages,
                                lambda port: measure_mix(port, users, 1))
        b.run([
            (f"{clients} clients x {loops} sessions, {len(messages)} msgs", b.sides(
                lambda: measure_mix(ph.require("imap"), users, loops),
                lambda: measure_mix(dv.imap_port, users, loops))),
            (f"{idle} connections in IDLE", b.sides(
                lambda: measure_idle(ph.require("imap"), users, idle,
                                     # worker processes: their tree's PSS, as Dovecot's
                                     lambda: vm_rss_kib(ph.pid) if ph.workers == 1
                                     else pss_tree_kib(ph.pid)),
                lambda: measure_idle(dv.imap_port, users, idle,
                                     lambda: pss_tree_kib(dv.pid or 0)))),
            *([(f"{many} connections in IDLE", {
                "posthouse": b.ph_err or (lambda: measure_idle(
                    ph.require("imap"), users, many, lambda: vm_rss_kib(ph.pid))),
                "dovecot": "not measured: posthouse only (--idle-many)",
            })] if many else []),
        ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
