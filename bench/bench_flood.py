"""A real user's login during a wrong-password flood (issue 12, defect 1), posthouse beside
Dovecot in the same run.

Each round: N source addresses (127.x.y.z, a fresh block per round, so the throttles of
earlier rounds do not help) x C connections guess the real user's password over IMAP LOGIN
and POP3 USER/PASS as fast as answers come. After a warm-up, a real user from an address of
its own logs in over IMAP twice: the first login needs a password hash, the second may be
served from a login cache (posthouse has one; Dovecot's auth_cache is off by default and
stays off here). Both servers store the same argon2id parameters (t=2, 64 MiB, p=2: Dovecot
verifies them through libsodium). Figures: the two login latencies (from connect: greeting
and LOGIN; a login the server drops counts until it is dropped, and "logins ok" says how
many of the two worked), the flood's answers per second (refusals included) and the CPU
seconds the server's processes used in the round.

The second workload is the issue's other half: 300 wrong logins (100 addresses x 3) whose
clients hang up after 0.5 s; figure: the CPU seconds the server still spends after they are
gone (until its CPU use is flat for a second). Nothing asserts a threshold.

    .venv/bin/python -m bench.bench_flood --quick
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.login_flood import (
    Flood,
    LineClient,
    kind,
    source_addresses,
    timed_login,
)
from tests.support.peers import DovecotPeer, free_port

from bench.common import (
    DOMAIN,
    PASSWORD,
    Metrics,
    Refused,
    Table,
    bench,
    descendants,
    parser,
    quick_or,
)
from posthouse.auth.passwords import PasswordHasher

VICTIM = f"victim@{DOMAIN}"
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time of pid and its live descendants, with the children they have reaped."""
    total = 0
    for proc in descendants(pid):
        try:
            fields = Path(f"/proc/{proc}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / _TICK


def settle_cpu(pid: int, bound: float = 45.0) -> tuple[float, float]:
    """(CPU seconds, wall seconds) until the tree's CPU use is flat for a second."""
    started, base = time.perf_counter(), cpu_seconds(pid)
    last = base
    while time.perf_counter() - started < bound:
        time.sleep(1.0)
        now = cpu_seconds(pid)
        if now - last < 0.05:
            break
        last = now
    return last - base, time.perf_counter() - started


def measure(ports: dict[str, int], users: Callable[[], str], blocks: Callable[[], int],
            addresses: int, connections: int, warmup: float, pid: Callable[[], int]) -> Metrics:
    """One round: flood, then the real user's two IMAP logins, then hang up the flood. It
    starts once the server is idle (a backlog of the last round's flood would count here)."""
    user, block = users(), blocks()
    settle_cpu(pid())
    cpu_before = cpu_seconds(pid())
    flood = Flood(ports, source_addresses(addresses, block=block), per_source=connections,
                  user=VICTIM).start()
    try:
        time.sleep(warmup)
        before = sum(flood.counts.values())
        started = time.perf_counter()
        fresh = source_addresses(2, block=block + 100)
        first = timed_login("imap", ports["imap"], fresh[0], user, PASSWORD)
        second = timed_login("imap", ports["imap"], fresh[1], user, PASSWORD)
        answered = sum(flood.counts.values()) - before
        window = time.perf_counter() - started
    finally:
        counts = flood.stop()
    cpu = cpu_seconds(pid()) - cpu_before
    print(f"    flood replies: {dict(counts)}", flush=True)
    for login in (first, second):
        if kind(login.reply) != "ok":
            print(f"    the real user's login failed after {login.total:.1f} s: "
                  f"{login.reply[:100]!r}", flush=True)
    return {"first login ms": first.total * 1000, "second login ms": second.total * 1000,
            "logins ok (of 2)": sum(kind(x.reply) == "ok" for x in (first, second)),
            "flood answers/s": answered / window if window else 0.0, "server CPU s": cpu}


def hang_up(ports: dict[str, int], blocks: Callable[[], int], addresses: int,
            connections: int, pid: Callable[[], int]) -> Metrics:
    """Wrong logins whose clients hang up after 0.5 s; the CPU the server spends after.
    The login is sent at once, without waiting for the greeting (a server whose greeting
    is late reads it after)."""
    settle_cpu(pid())
    clients: list[LineClient] = []
    protocols = list(ports)
    try:
        for i, source in enumerate(source_addresses(addresses, block=blocks())):
            for j in range(connections):
                proto = protocols[(i * connections + j) % len(protocols)]
                client = LineClient(ports[proto], source)
                clients.append(client)
                if proto == "imap":
                    client.send(f'l LOGIN "{VICTIM}" "wrong-{i}-{j}"'.encode())
                else:
                    client.send(f"USER {VICTIM}\r\nPASS wrong-{i}-{j}".encode())
        time.sleep(0.5)
    finally:
        for client in clients:
            client.close()
    cpu, wall = settle_cpu(pid())
    return {"CPU after hang-up s": cpu, "busy after hang-up s": wall}


def main(argv: list[str] | None = None) -> int:
    p = parser("A real user's IMAP login during a wrong-password flood, posthouse vs Dovecot")
    p.add_argument("--addresses", type=int, help="flooding addresses (default 200, quick 20)")
    p.add_argument("--connections", type=int, default=3, help="connections per address")
    p.add_argument("--hangups", type=int, help="addresses (x 3 connections) of the hang-up "
                   "burst (default 100, quick 30)")
    p.add_argument("--warmup", type=float, help="seconds of flood before the real user "
                   "logs in (default 5, quick 2)")
    args = p.parse_args(argv)
    addresses = quick_or(args, args.addresses, 20, 200)
    warmup = args.warmup or (2.0 if args.quick else 5.0)
    rounds = int(args.runs or (1 if args.quick else 3))
    users = [f"real{i}@{DOMAIN}" for i in range(1, 2 * rounds + 3)]
    table = Table("Login flood: a real user's IMAP login while "
                  f"{addresses} addresses x {args.connections} connections guess passwords",
                  "dovecot")
    with bench(args, "FLOOD", table) as b:
        ph = b.posthouse([VICTIM, *users])
        stored = PasswordHasher().hash(PASSWORD)  # posthouse's default argon2id cost
        dv = DovecotPeer(b.lab / "dovecot", imap_port=free_port(), pop3_port=free_port(),
                         users=dict.fromkeys([VICTIM, *users], PASSWORD),
                         hashed=dict.fromkeys([VICTIM, *users], "{ARGON2ID}" + stored))
        b.peer(dv)
        ph_users, dv_users = iter(users), iter(users)
        ph_blocks, dv_blocks = itertools.count(10), itertools.count(60)  # 127.<block>.x.y
        label = f"{addresses} x {args.connections} wrong logins (IMAP, POP3)"
        def ph_ports() -> dict[str, int]:
            return {"imap": ph.require("imap"), "pop3": ph.require("pop3")}

        def dv_ports() -> dict[str, int]:
            return {"imap": dv.imap_port, "pop3": dv.pop3_port}

        def dv_pid() -> int:
            if dv.pid is None:
                raise Refused("dovecot is not running")
            return dv.pid

        burst = quick_or(args, args.hangups, 30, 100)
        b.run([(label, b.sides(
            lambda: measure(ph_ports(), lambda: next(ph_users), lambda: next(ph_blocks),
                            addresses, args.connections, warmup, lambda: ph.pid),
            lambda: measure(dv_ports(), lambda: next(dv_users), lambda: next(dv_blocks),
                            addresses, args.connections, warmup, dv_pid))),
               (f"{burst} x 3 wrong logins hung up after 0.5 s", b.sides(
                   lambda: hang_up(ph_ports(), lambda: next(ph_blocks), burst, 3,
                                   lambda: ph.pid),
                   lambda: hang_up(dv_ports(), lambda: next(dv_blocks), burst, 3, dv_pid)))])
    return 0


if __name__ == "__main__":
    sys.exit(main())
