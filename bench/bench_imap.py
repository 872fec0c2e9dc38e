"""IMAP: N concurrent imaplib clients doing a realistic session mix, and memory per IDLE.

A session: LOGIN, SELECT INBOX, FETCH the header summary of every message, FETCH 10 bodies,
STORE/unSTORE flags on 5, SEARCH UNSEEN, SEARCH SUBJECT, APPEND a message, NOOP, flag it
\\Deleted, EXPUNGE, LOGOUT; the mailbox ends as it began. Each client is its own user with the
same 200 messages. Then K connections are opened and left in IDLE: memory per connection is
posthouse's VmRSS growth (/proc/PID/status) and Dovecot's PSS growth over its process tree
(one imap process per connection; VmRSS would count shared pages K times).

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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.peers import (
    LOOPBACK,
    DovecotPeer,
    free_port,
    sample_message,
    scratch_dir,
)

from bench.bench_pop3 import fill_posthouse, mailbox
from bench.common import (
    DOMAIN,
    PASSWORD,
    Metrics,
    Posthouse,
    Refused,
    Side,
    Table,
    header,
    parser,
    pss_tree_kib,
    rounds,
    run_table,
    try_setup,
    vm_rss_kib,
    wanted,
)

HEADER_ITEMS = "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])"
APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]")


def _ok(reply: tuple[str, Sequence[object]], what: str) -> Sequence[object]:
    status, data = reply
    if status != "OK":
        raise Refused(f"{what}: {status} {data!r}")
    return data


def _uids(data: Sequence[object]) -> list[bytes]:
    first = data[0] if data else b""
    return first.split() if isinstance(first, bytes) else []


def imap_session(port: int, user: str, rng: random.Random, serial: int) -> int:
    """One session of the mix; returns how many commands it sent."""
    client = imaplib.IMAP4(LOOPBACK, port, timeout=60)
    try:
        _ok(client.login(user, PASSWORD), "LOGIN")
        _ok(client.select("INBOX"), "SELECT")
        _ok(client.uid("FETCH", "1:*", HEADER_ITEMS), "FETCH headers")
        uids = _uids(_ok(client.uid("SEARCH", "ALL"), "SEARCH ALL"))
        if len(uids) < 10:
            raise Refused(f"{user} has only {len(uids)} messages")
        picked = b",".join(rng.sample(uids, 10)).decode()
        flagged = b",".join(rng.sample(uids, 5)).decode()
        _ok(client.uid("FETCH", picked, "(UID BODY.PEEK[])"), "FETCH bodies")
        _ok(client.uid("STORE", flagged, "+FLAGS", r"(\Seen \Flagged)"), "STORE +FLAGS")
        _ok(client.uid("STORE", flagged, "-FLAGS", r"(\Seen \Flagged)"), "STORE -FLAGS")
        _ok(client.uid("SEARCH", "UNSEEN"), "SEARCH UNSEEN")
        _ok(client.uid("SEARCH", "SUBJECT", f'"message {rng.randrange(1, 200)}"'), "SEARCH")
        _append_and_expunge(client, user, serial)
    except BaseException:
        client.shutdown()
        raise
    client.logout()
    return 14


def _append_and_expunge(client: imaplib.IMAP4, user: str, serial: int) -> None:
    data = sample_message(100000 + serial, 3000, recipient=user).replace(b"\n", b"\r\n")
    reply = _ok(client.append("INBOX", r"(\Seen)", None, data), "APPEND")
    _ok(client.noop(), "NOOP")
    found = APPENDUID.search(reply[0]) if reply and isinstance(reply[0], bytes) else None
    if found:
        uid = found.group(1).decode()
    else:
        hits = _uids(_ok(client.uid("SEARCH", "HEADER", "Message-ID",
                                    f"sample-{100000 + serial}@"), "SEARCH HEADER"))
        uid = hits[-1].decode() if hits else ""
    if not uid:
        raise Refused("cannot find the appended message")
    _ok(client.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)"), "STORE \\Deleted")
    _ok(client.expunge(), "EXPUNGE")


def measure_mix(port: int, users: list[str], loops: int) -> Metrics:
    """Every user's client runs loops sessions, all concurrently (threads)."""
    def client(index: int) -> int:
        rng = random.Random(index)
        return sum(imap_session(port, users[index], rng, index * 1000 + n)
                   for n in range(loops))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        commands = sum(pool.map(client, range(len(users))))
    seconds = time.perf_counter() - started
    return {"sessions/s": len(users) * loops / seconds, "commands/s": commands / seconds}


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
    """Open count IDLE connections; memory growth per connection in KiB."""
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
    return {"KiB per IDLE connection": (after - before) / count}


def main(argv: list[str] | None = None) -> int:
    p = parser("IMAP session mix and memory per IDLE: posthouse vs Dovecot")
    p.add_argument("--clients", type=int, help="concurrent clients (default 10, quick 2)")
    p.add_argument("--loops", type=int, help="sessions per client (default 10, quick 2)")
    p.add_argument("--idle", type=int, help="IDLE connections (default 200, quick 20)")
    p.add_argument("--messages", type=int, default=200, help="messages per INBOX")
    p.add_argument("--fill", choices=("smtp", "imap"), default="smtp",
                   help="how posthouse gets the messages")
    args = p.parse_args(argv)
    clients = args.clients or (2 if args.quick else 10)
    loops = args.loops or (2 if args.quick else 10)
    idle = args.idle or (20 if args.quick else 200)
    users = [f"imap{i}@{DOMAIN}" for i in range(1, clients + 1)]
    messages = mailbox(args.messages)
    header("IMAP", args)
    table = Table("IMAP: session mix and idle memory -> posthouse vs Dovecot", "dovecot")
    with scratch_dir("posthouse-bench-imap-") as lab:
        ph = Posthouse(lab / "posthouse")
        dv = DovecotPeer(lab / "dovecot", imap_port=free_port(), pop3_port=free_port(),
                         users=dict.fromkeys(users, PASSWORD))
        ph_err = (try_setup("posthouse", lambda: ph.setup(users), ph.start,
                            lambda: fill_posthouse(ph, users, messages, args.fill),
                            lambda: measure_mix(ph.require("imap"), users, 1))  # warm-up
                  if wanted(args, "posthouse") else "not run (--only)")
        dv_err = (try_setup("dovecot", dv.start,
                            *(lambda u=u: dv.add_messages(u, messages) for u in users),
                            lambda: measure_mix(dv.imap_port, users, 1))  # builds indexes
                  if wanted(args, "peer") else "not run (--only)")
        try:
            mix: dict[str, Side] = {
                "posthouse": ph_err or (lambda: measure_mix(ph.require("imap"), users, loops)),
                "dovecot": dv_err or (lambda: measure_mix(dv.imap_port, users, loops)),
            }
            idle_sides: dict[str, Side] = {
                "posthouse": ph_err or (lambda: measure_idle(
                    ph.require("imap"), users, idle, lambda: vm_rss_kib(ph.pid))),
                "dovecot": dv_err or (lambda: measure_idle(
                    dv.imap_port, users, idle, lambda: pss_tree_kib(dv.pid or 0))),
            }
            run_table(table, rounds(args), [
                (f"{clients} clients x {loops} sessions, {len(messages)} msgs", mix),
                (f"{idle} connections in IDLE", idle_sides),
            ])
        finally:
            ph.stop()
            dv.stop()
    table.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
