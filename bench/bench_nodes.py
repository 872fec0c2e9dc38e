"""Scale-out: one node on SQLite, one node on PostgreSQL, two nodes on one PostgreSQL database.

Three sides in the same run, round after round (the order flips every round): SMTP delivery
(smtp-source, 4 KB messages, 20 sessions), bench_imap's session mix and bench_pop3's download.
With two nodes the client splits the load: half the smtp-source sessions and messages go to
each node, and client i talks to node i % 2. Each PostgreSQL side has its own database on the
server at 127.0.0.1:5432 (tests/support/pgdb.py: created at the start, dropped at the end).

So the scaling can be read, every workload also reports CPU seconds (utime + stime from
/proc/PID/stat) taken during it: of each posthouse node; of the PostgreSQL backends serving the
side's database (their PIDs from pg_stat_activity, read before and after; a backend that exits
meanwhile loses its share, posthouse's pool keeps its connections); and of every process named
postgres (backends + the postmaster's reaped children + WAL writer, checkpointer...). The last
figure includes the other users of the shared server (CI's tests), the middle one does not.

    .venv/bin/python -m bench.bench_nodes --quick
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from tests.support.peers import run_smtp_source, scratch_dir
from tests.support.pgdb import PgTestDatabase, unreachable

from bench.bench_imap import Timed, imap_session
from bench.bench_pop3 import worker
from bench.common import (
    DOMAIN,
    Metrics,
    Posthouse,
    Refused,
    SideResult,
    compare,
    fill_posthouse,
    header,
    mailbox,
    parser,
    quick_or,
    rounds,
    try_setup,
)

RECIPIENT = f"bench@{DOMAIN}"
SIZE = 4096
SIDES = ("sqlite, 1 node", "postgresql, 1 node", "postgresql, 2 nodes")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- CPU readings ------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """utime + stime of a process, every thread (with its reaped children's if asked)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # after the ")": state is field 0, so utime/stime/cutime/cstime are 11..14 (stat(5) 14..17)
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def all_postgres_seconds() -> float:
    """CPU of every process named postgres, reaped children included (the postmaster's
    cutime/cstime hold the backends that exited)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm == "postgres":
            total += cpu_seconds(int(entry.name), children=True)
    return total


def backend_seconds(db: PgTestDatabase | None) -> dict[int, float]:
    """CPU seconds of each backend connected to the side's database, by PID."""
    if db is None:
        return {}
    with psycopg.connect(db.url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (db.name,),
        ).fetchall()
    return {int(pid): cpu_seconds(int(pid)) for (pid,) in rows}


@dataclass
class CpuSnapshot:
    nodes: list[float]
    backends: dict[int, float]
    postgres: float
    at: float = field(default_factory=time.perf_counter)


def snapshot(nodes: Sequence[Posthouse], db: PgTestDatabase | None) -> CpuSnapshot:
    return CpuSnapshot(
        [cpu_seconds(n.pid) for n in nodes], backend_seconds(db), all_postgres_seconds()
    )


def cpu_metrics(before: CpuSnapshot, after: CpuSnapshot, ops: int, postgres: bool) -> Metrics:
    """CPU seconds taken between two snapshots, per node and of the database (none on
    SQLite: the store runs inside the node), per operation, and the cores kept busy."""
    metrics: Metrics = {}
    for i, (a, b) in enumerate(zip(before.nodes, after.nodes, strict=True)):
        metrics[f"node {'AB'[i]} CPU s"] = b - a
    nodes = sum(after.nodes) - sum(before.nodes)
    db = sum(s - before.backends.get(pid, 0.0) for pid, s in after.backends.items())
    if postgres:
        metrics["db backends CPU s"] = db
        metrics["all postgres CPU s"] = after.postgres - before.postgres
    metrics["posthouse CPU ms/op"] = 1000 * nodes / ops
    if postgres:
        metrics["db CPU ms/op"] = 1000 * db / ops
    metrics["cores busy (nodes+db)"] = (nodes + db) / (after.at - before.at)
    return metrics


# --- one side: its nodes and database ------------------------------------------------------------


class Cluster:
    """One side: one or two posthouse nodes, on SQLite or on one PostgreSQL database."""

    def __init__(self, lab: Path, slug: str, nodes: int, postgres: bool) -> None:
        self.db = PgTestDatabase() if postgres else None
        self.slug = slug
        self.lab = lab
        self.count = nodes
        self.nodes: list[Posthouse] = []
        self.error: str | None = None

    def setup(self, users: list[str], messages: list[bytes], warm_up: Callable[[], object]) -> None:
        """Create the database, init every node (users once: they share the store), serve,
        fill every user's INBOX through node A, then warm up."""

        def steps() -> None:
            toml = ""
            if self.db is not None:
                self.db.create()
                toml = f'\n[store]\nurl = "{self.db.url}"\n'
            for i in range(self.count):
                node = Posthouse(self.lab / f"{self.slug}-{'ab'[i]}", extra_toml=toml)
                self.nodes.append(node)
                # init adds the domain to the store the config names then (SQLite): on
                # PostgreSQL node A adds it once more, after [store] url is in the config
                node.setup([])
                if i == 0:
                    if self.db is not None:
                        node.cli("domain", "add", DOMAIN)
                    node.setup_users(users)
                node.start()
            fill_posthouse(self.nodes[0], users, messages, "smtp")
            warm_up()

        self.error = try_setup(self.slug, steps)

    def ports(self, protocol: str) -> list[int]:
        return [node.require(protocol) for node in self.nodes]

    def begin(self) -> CpuSnapshot:
        """The CPU readings just before the timed part of a workload."""
        return snapshot(self.nodes, self.db)

    def cpu(self, before: CpuSnapshot, ops: int) -> Metrics:
        """The CPU the timed part took since begin(), for ops operations."""
        return cpu_metrics(before, snapshot(self.nodes, self.db), ops, self.db is not None)

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
        if self.db is not None:
            try:
                self.db.drop()
            except psycopg.Error as exc:
                print(f"  {self.slug}: could not drop {self.db.name}: {exc}", flush=True)


# --- the workloads, the load split over the nodes ------------------------------------------------


def smtp_run(cluster: Cluster, sessions: int, messages: int) -> Metrics:
    """smtp-source into every node at once, sessions and messages split evenly."""
    ports = cluster.ports("smtp")
    before = cluster.nodes[0].message_count(RECIPIENT)
    share = [messages // len(ports) + (i < messages % len(ports)) for i in range(len(ports))]
    results: list[object] = [None] * len(ports)

    def one(i: int) -> None:
        results[i] = run_smtp_source(
            ports[i],
            sessions=max(1, sessions // len(ports)),
            messages=share[i],
            size=SIZE,
            recipient=RECIPIENT,
        )

    cpu = cluster.begin()
    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(ports))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    spent = cluster.cpu(cpu, messages)
    for result in results:
        if getattr(result, "rc", 1) != 0:
            raise Refused(f"smtp-source failed: {getattr(result, 'output', result)}")
    after = cluster.nodes[0].message_count(RECIPIENT)
    if before is not None and after is not None and after - before != messages:
        raise Refused(f"accepted {messages} but the store gained {after - before}")
    return {"msg/s": messages / seconds, **spent}


def imap_run(cluster: Cluster, users: list[str], loops: int) -> Metrics:
    """bench_imap's session mix; client i on node i % nodes."""
    ports = cluster.ports("imap")

    def client(index: int) -> list[Timed]:
        rng = random.Random(index)
        port = ports[index % len(ports)]
        return [imap_session(port, users[index], rng, index * 1000 + n) for n in range(loops)]

    cpu = cluster.begin()
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
    commands = count.total()
    return {
        "sessions/s": len(users) * loops / seconds,
        "commands/s": commands / seconds,
        "mean command ms": 1000 * sum(busy.values()) / commands,
        **cluster.cpu(cpu, commands),
    }


def pop3_run(cluster: Cluster, users: list[str], loops: int, expected: int) -> Metrics:
    """bench_pop3's sessions; user i on node i % nodes."""
    ports = cluster.ports("pop3")

    async def all_workers() -> list[tuple[int, int]]:
        return await asyncio.gather(
            *(worker(ports[i % len(ports)], u, loops, expected) for i, u in enumerate(users))
        )

    cpu = cluster.begin()
    started = time.perf_counter()
    done = asyncio.run(all_workers())
    seconds = time.perf_counter() - started
    retrieved = sum(m for m, _ in done)
    return {
        "sessions/s": len(users) * loops / seconds,
        "messages/s": retrieved / seconds,
        "MB/s": sum(b for _, b in done) / seconds / 1e6,
        **cluster.cpu(cpu, retrieved),
    }


def warm_up(cluster: Cluster, imap_users: list[str], pop_users: list[str], count: int) -> None:
    """One untimed pass of the IMAP and POP3 workloads."""
    imap_run(cluster, imap_users, 1)
    pop3_run(cluster, pop_users, 1, count)


# --- the table -----------------------------------------------------------------------------------


def render(title: str, rows: list[tuple[str, str, dict[str, SideResult]]]) -> str:
    head = [
        f"## {title}",
        "",
        "| workload | metric | " + " | ".join(f"{s} min/med/max" for s in SIDES) + " |",
        "| --- | --- |" + " --- |" * len(SIDES),
    ]
    lines = [
        f"| {w} | {m} | " + " | ".join(_cell(r[s], m) for s in SIDES) + " |" for w, m, r in rows
    ]
    errors = dict.fromkeys(f"{s}: {r[s].error}" for _, _, r in rows for s in SIDES if r[s].error)
    notes = ["", "Notes:", *(f"- {e.strip()}" for e in errors)] if errors else []
    return "\n".join(head + lines + notes)


def _cell(result: SideResult, metric: str) -> str:
    """The side's figures, "-" for a metric it has not (node B of one node)."""
    return "-" if result.values and metric not in result.values else result.cell(metric)


def bottleneck(rows: list[tuple[str, str, dict[str, SideResult]]]) -> str:
    """Where the time goes, read off the medians: a few lines under the table."""
    out = ["Reading (medians):"]
    by_workload: dict[str, dict[str, SideResult]] = {}
    for w, _, r in rows:
        by_workload[w] = r
    for w, r in by_workload.items():
        one, two = r[SIDES[1]], r[SIDES[2]]
        rate = next((m for m in ("msg/s", "commands/s", "messages/s") if m in one.values), None)
        if rate is None or one.median(rate) is None or two.median(rate) is None:
            continue
        speedup = (two.median(rate) or 0) / (one.median(rate) or 1)
        ph_ms = [r[s].median("posthouse CPU ms/op") for s in SIDES]
        db_ms = [r[s].median("db CPU ms/op") for s in SIDES]
        busy = [r[s].median("cores busy (nodes+db)") for s in SIDES]
        out.append(
            f"- {w}: two nodes / one node on PostgreSQL = {speedup:.2f}x; posthouse CPU "
            f"ms/op {' / '.join(_f(v) for v in ph_ms)}, database CPU ms/op "
            f"{' / '.join(_f(v) for v in db_ms)}, cores busy {' / '.join(_f(v) for v in busy)} "
            "(sqlite 1 / pg 1 / pg 2)."
        )
    return "\n".join(out)


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def main(argv: list[str] | None = None) -> int:
    p = parser("one node on SQLite vs one and two nodes on PostgreSQL")
    p.add_argument(
        "--clients",
        type=int,
        help="IMAP clients and POP3 sessions "
        "(default 10, quick 2; even, so two nodes get as many each)",
    )
    p.add_argument("--loops", type=int, help="sessions per client (default 5, quick 1)")
    p.add_argument("--smtp-messages", type=int, help="messages (default 2000, quick 200)")
    p.add_argument("--smtp-sessions", type=int, default=20, help="smtp-source sessions")
    p.add_argument("--messages", type=int, help="messages per INBOX (default 200, quick 50)")
    args = p.parse_args(argv)
    clients = quick_or(args, args.clients, 2, 10)
    loops = quick_or(args, args.loops, 1, 5)
    smtp_messages = quick_or(args, args.smtp_messages, 200, 2000)
    inbox = mailbox(quick_or(args, args.messages, 50, 200))
    if reason := unreachable():
        print(reason, file=sys.stderr)
        return 1
    imap_users = [f"imap{i}@{DOMAIN}" for i in range(1, clients + 1)]
    pop_users = [f"pop{i}@{DOMAIN}" for i in range(1, clients + 1)]
    header("Nodes (issue 18)", args)
    rows: list[tuple[str, str, dict[str, SideResult]]] = []
    with scratch_dir("posthouse-bench-nodes-") as lab:
        clusters = {
            name: Cluster(lab, slug, nodes, pg)
            for name, slug, nodes, pg in (
                (SIDES[0], "sqlite1", 1, False),
                (SIDES[1], "pg1", 1, True),
                (SIDES[2], "pg2", 2, True),
            )
        }
        try:
            for name, cluster in clusters.items():
                print(f"- set-up: {name}", flush=True)
                cluster.setup(
                    [RECIPIENT, *imap_users, *pop_users],
                    inbox,
                    functools.partial(warm_up, cluster, imap_users, pop_users, len(inbox)),
                )
            workloads: list[tuple[str, Callable[[Cluster], Metrics]]] = [
                (
                    f"SMTP -s {args.smtp_sessions} -m {smtp_messages} -l {SIZE}",
                    lambda c: smtp_run(c, args.smtp_sessions, smtp_messages),
                ),
                (
                    f"IMAP mix {clients} clients x {loops}, {len(inbox)} msgs",
                    lambda c: imap_run(c, imap_users, loops),
                ),
                (
                    f"POP3 {clients} sessions x {loops}, RETR {len(inbox)}",
                    lambda c: pop3_run(c, pop_users, loops, len(inbox)),
                ),
            ]
            for label, run in workloads:
                print(f"- {label}", flush=True)
                runnable: dict[str, Callable[[], Metrics]] = {
                    name: functools.partial(run, c)
                    for name, c in clusters.items()
                    if c.error is None
                }
                results = compare(rounds(args), runnable)
                for name, c in clusters.items():
                    if c.error is not None:
                        results[name] = SideResult(error=c.error)
                # the two-node side's metrics first: they include node B's and the database's
                metrics = list(
                    dict.fromkeys(m for side in reversed(SIDES) for m in results[side].values)
                )
                rows.extend((label, m, results) for m in metrics or ["-"])
        finally:
            for cluster in clusters.values():
                cluster.close()
    print("\n" + render("One node vs two nodes: SQLite and PostgreSQL; port 25 checks off", rows))
    print("\n" + bottleneck(rows) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
