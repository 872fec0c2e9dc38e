"""What every benchmark shares: runs interleaved side by side, statistics, the result table,
a posthouse instance run as a subprocess from the CLI (optionally profiled), the run's frame
(``bench()``: options, scratch dir, set-up of both sides, clean-up), the mailboxes of the
POP3 and IMAP benchmarks, an SMTP injector and memory readings.

Figures are min / median / max over runs; the ratio is posthouse's median over the peer's.
Only ratios from the same run mean anything on a shared machine.
"""

from __future__ import annotations

import argparse
import contextlib
import imaplib
import os
import random
import re
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Self, TypeVar

from tests.support.peers import (
    LOOPBACK,
    DovecotPeer,
    PeerError,
    free_port,
    is_listening,
    log_tail,
    pid_alive,
    sample_message,
    scratch_dir,
    wait_until,
)

REPO = Path(__file__).resolve().parents[1]
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
DOMAIN = "example.test"
PASSWORD = "bench password 1"
STANDARD_PORTS = {"smtp": 25, "submission": 587, "submissions": 465,
                  "imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995}

Metrics = dict[str, float]
T = TypeVar("T")


class Refused(Exception):
    """A side of the comparison could not do the workload (not listening, rejected...)."""


# --- statistics and the table ---------------------------------------------------------------


@dataclass
class SideResult:
    """Every run's metrics of one side, or why it stopped."""

    values: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None

    def add(self, metrics: Metrics) -> None:
        for name, value in metrics.items():
            self.values.setdefault(name, []).append(value)

    def median(self, metric: str) -> float | None:
        vals = self.values.get(metric)
        return statistics.median(vals) if vals else None

    def cell(self, metric: str) -> str:
        """ "min / median / max", or the reason there is no figure."""
        vals = self.values.get(metric)
        if vals:
            return " / ".join(_num(v) for v in (min(vals), statistics.median(vals), max(vals)))
        if self.error:
            return "no figure: " + _shorten(self.error, 48)
        return "-"


def _num(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _shorten(text: str, width: int) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= width else line[: width - 1] + "…"


def compare(runs: int, sides: dict[str, Callable[[], Metrics]]) -> dict[str, SideResult]:
    """Run every side once per round, back to back, the order flipping every round (on this
    machine the second of two runs tends to be faster); a side that fails is not retried."""
    results = {name: SideResult() for name in sides}
    for round_no in range(1, runs + 1):
        order = list(sides.items())
        if round_no % 2 == 0:
            order.reverse()
        for name, run_once in order:
            result = results[name]
            if result.error is not None:
                continue
            try:
                metrics = run_once()
            except Exception as exc:  # any failure is reported in the table, not raised
                result.error = f"{type(exc).__name__}: {exc}"
                print(f"  {name}: round {round_no} failed: {_shorten(result.error, 200)}",
                      flush=True)
                continue
            result.add(metrics)
            shown = ", ".join(f"{k} {_num(v)}" for k, v in metrics.items())
            print(f"  {name}: round {round_no}: {shown}", flush=True)
    return results


@dataclass
class Table:
    """A markdown table: one row per workload and metric, posthouse beside the peer."""

    title: str
    peer: str
    rows: list[tuple[str, str, SideResult, SideResult]] = field(default_factory=list)

    def add(self, workload: str, results: dict[str, SideResult]) -> None:
        ours = results.get("posthouse", SideResult(error="not run"))
        theirs = results.get(self.peer, SideResult(error="not run"))
        metrics = list(dict.fromkeys([*ours.values, *theirs.values])) or ["-"]
        for metric in metrics:
            self.rows.append((workload, metric, ours, theirs))

    def render(self) -> str:
        head = [f"## {self.title}", "",
                f"| workload | metric | posthouse min/med/max | {self.peer} min/med/max "
                "| ratio posthouse/peer |", "| --- | --- | --- | --- | --- |"]
        lines = [f"| {w} | {m} | {a.cell(m)} | {b.cell(m)} | {_ratio(a, b, m)} |"
                 for w, m, a, b in self.rows]
        return "\n".join(head + lines + self._notes())

    def _notes(self) -> list[str]:
        errors = dict.fromkeys(f"{name}: {r.error}" for _, _, a, b in self.rows
                               for name, r in (("posthouse", a), (self.peer, b)) if r.error)
        return ["", "Notes:", *(f"- {_indent(e)}" for e in errors)] if errors else []

    def print(self) -> None:
        print("\n" + self.render() + "\n", flush=True)


def _ratio(ours: SideResult, theirs: SideResult, metric: str) -> str:
    a, b = ours.median(metric), theirs.median(metric)
    return f"{a / b:.2f}" if a is not None and b else "-"


def _indent(text: str) -> str:
    return text.strip().replace("\n", "\n  ")


# --- command line ----------------------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    """The options every benchmark takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="a short run (small counts, one round): for development")
    p.add_argument("--runs", type=int, help="rounds per workload (default 3, --quick 1)")
    p.add_argument("--only", choices=("posthouse", "peer"), help="run one side only")
    p.add_argument("--profile", type=Path, metavar="FILE",
                   help="run posthouse under cProfile (every thread, bench/profiled.py), "
                   "write the stats to FILE and print the top functions; it slows posthouse "
                   "down, so use it with --only posthouse")
    p.add_argument("--profile-clock", choices=("cpu", "wall"), default="cpu",
                   help="--profile: each thread's CPU time (default) or wall time")
    p.add_argument("--workers", type=int, default=1,
                   help="posthouse's [server] workers (worker processes; default 1)")
    return p


def quick_or(args: argparse.Namespace, given: int | None, quick: int, full: int) -> int:
    """An option's value: what was given, else its --quick or its full-run default."""
    return given or (quick if args.quick else full)


def rounds(args: argparse.Namespace) -> int:
    """How many rounds to run."""
    return int(args.runs or (1 if args.quick else 3))


def wanted(args: argparse.Namespace, side: str) -> bool:
    """True unless --only picked the other side ("peer" means any reference peer)."""
    return args.only is None or args.only == ("posthouse" if side == "posthouse" else "peer")


def timed(fn: Callable[[], object]) -> float:
    """Wall seconds one call takes."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


# --- posthouse as a subprocess -------------------------------------------------------------

BENCH_TOML = """
[limits]
max_connections = 25000
max_connections_per_ip = 25000
max_connections_per_listener = 25000
max_connections_per_ip_per_listener = 25000
shutdown_grace_seconds = 5

# One loopback address logs in as many users at once (bench_pop3's 10 sessions): the login
# queue per source (issue 12's flood bound, 2 by default) would refuse the third.
[auth]
max_queued_hashes_per_source = 64

# One loopback client sends every benchmark message: no rate limits, no greeting pause.
[antiabuse]
greet_pause_ms = 0
ip_messages_per_window = 0
ip_recipients_per_window = 0
sender_messages_per_window = 0
sender_recipients_per_window = 0
user_messages_per_window = 0
user_recipients_per_window = 0
"""

# The port 25 sender checks (SPF, DKIM, DMARC, ARC, iprev) are off in every benchmark unless
# it asks for them: neither private peer does any (Postfix has no policy daemon or milter,
# Dovecot receives nothing over SMTP), and a fair comparison measures the same work. Their
# cost is measured on its own by bench_trust.py. Each table's title says they are off.
CHECKS_OFF = """
[checks]
spf = false
dkim = false
dmarc = false
arc = false
iprev = false
"""


def free_port_base(rng: random.Random | None = None) -> int:
    """N such that N + every standard mail port can be bound on 127.0.0.1. N + 995 stays
    below Linux's ephemeral range (32768 and up), where client sockets would take ports."""
    rng = rng or random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 31700, 10)
        if all(_bindable(base + p) for p in STANDARD_PORTS.values()):
            return base
    raise RuntimeError("no free port base found")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


class Posthouse:
    """``posthouse init``, ``user add`` and ``serve --port-base N`` in a scratch data dir."""

    def __init__(self, data_dir: Path, *, extra_toml: str = "", port_base: int | None = None,
                 hostname: str = "mx.example.test", domain: str = DOMAIN,
                 profile: Path | None = None, profile_clock: str = "cpu",
                 source: Path | None = None, checks: bool = False, workers: int = 1) -> None:
        self.data_dir = data_dir
        self.workers = workers  # [server] workers
        # source: another checkout whose src/ runs instead of this one's (bench/ab_smtp.py)
        self.env = None if source is None else {
            **os.environ, "PYTHONPATH": f"{source / 'src'}{os.pathsep}{source}"}
        self.profile = profile
        self.profile_clock = profile_clock
        # checks: keep the port 25 sender checks on (bench_trust.py); see CHECKS_OFF
        self.extra_toml = BENCH_TOML + ("" if checks else CHECKS_OFF) + extra_toml
        self.port_base = port_base if port_base is not None else free_port_base()
        self.hostname = hostname
        self.domain = domain
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-serve.log"

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run ``python -m posthouse ARGS --data-dir D``; Refused with its output on failure."""
        argv = [str(VENV_PYTHON), "-m", "posthouse", *args, "--data-dir", str(self.data_dir)]
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=120,
                              cwd=REPO, check=False, env=self.env)
        if proc.returncode != 0:
            raise Refused(f"posthouse {' '.join(args)} failed (exit {proc.returncode}): "
                          f"{(proc.stdout + proc.stderr).strip()}")
        return proc.stdout

    def setup(self, users: Iterable[str], password: str = PASSWORD) -> None:
        """init the data dir, add the benchmark settings and the users."""
        self.cli("init", "--hostname", self.hostname, "--domain", self.domain)
        config = self.data_dir / "posthouse.toml"
        text = config.read_text(encoding="utf-8")
        if self.workers != 1:
            text = text.replace("[server]\n", f"[server]\nworkers = {self.workers}\n", 1)
        config.write_text(text + self.extra_toml, encoding="utf-8")
        self.setup_users(users, password)

    def setup_users(self, users: Iterable[str], password: str = PASSWORD) -> None:
        """``user add`` each address."""
        for address in users:
            self.cli("user", "add", address, "--password-stdin", stdin=password + "\n")

    def port(self, protocol: str) -> int:
        return self.port_base + STANDARD_PORTS[protocol]

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise Refused("posthouse is not running")
        return self.proc.pid

    def start(self, timeout: float = 60) -> Self:
        """serve on 127.0.0.1 until it prints "ready"; Refused with its log if it does not."""
        runner = (["bench.profiled", "--clock", self.profile_clock, str(self.profile.resolve())]
                  if self.profile else ["posthouse"])
        argv = [str(VENV_PYTHON), "-m", *runner, "serve", "--data-dir", str(self.data_dir),
                "--bind", LOOPBACK, "--port-base", str(self.port_base),
                "--allow-plaintext-loopback", "--allow-root"]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=REPO, env=self.env)
        proc = self.proc
        wait_until(lambda: proc.poll() is not None or self._said_ready(), timeout, 0.1)
        if proc.poll() is not None or not self._said_ready():
            rc = proc.poll()
            self.stop()
            raise Refused(f"posthouse serve did not get ready (exit {rc}):\n{self.tail()}")
        return self

    def _said_ready(self) -> bool:
        return any(line.strip() == "ready" for line in log_tail(self.log_path, 200).splitlines())

    def require(self, protocol: str) -> int:
        """The port of a listener, or Refused if nothing listens there."""
        port = self.port(protocol)
        if not is_listening(port):
            raise Refused(f"posthouse does not listen for {protocol} on {LOOPBACK}:{port} "
                          f"(not implemented yet?)\n{self.tail(8)}")
        return port

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL if it outlives its shutdown grace."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60 if self.profile else 20)  # writing the profile takes a while
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def tail(self, lines: int = 20) -> str:
        return f"--- {self.log_path} ---\n{log_tail(self.log_path, lines)}"

    def message_count(self, address: str) -> int | None:
        """Messages in a user's store, from ``posthouse user list`` (None if unknown)."""
        try:
            out = self.cli("user", "list", address.rpartition("@")[2])
        except (Refused, subprocess.TimeoutExpired):
            return None
        for line in out.splitlines():
            name, _, rest = line.partition("\t")
            found = re.search(r"\bmessages=(\d+)", rest)
            if name == address and found:
                return int(found.group(1))
        return None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def try_setup(label: str, *steps: Callable[[], object]) -> str | None:
    """Run one side's set-up steps; None when they worked, else why they failed."""
    try:
        for step in steps:
            step()
    except (Refused, PeerError, OSError, subprocess.SubprocessError) as exc:
        reason = f"set-up failed: {type(exc).__name__}: {exc}"
        print(f"  {label}: {_shorten(reason, 300)}", flush=True)
        return reason
    return None


Runner = Callable[[], Metrics]  # one round of a workload on one side
Side = Runner | str  # or why that side cannot run it


def run_table(table: Table, runs: int, workloads: Iterable[tuple[str, dict[str, Side]]]) -> None:
    """Measure each workload on every side (a str side is the reason it cannot run)."""
    for label, sides in workloads:
        print(f"- {label}", flush=True)
        runnable = {name: side for name, side in sides.items() if callable(side)}
        results = compare(runs, runnable)
        for name, side in sides.items():
            if isinstance(side, str):
                results[name] = SideResult(error=side)
        table.add(label, results)


NOT_RUN = "not run (--only)"


class Startable(Protocol):
    def start(self) -> object: ...
    def stop(self) -> None: ...


PeerT = TypeVar("PeerT", bound=Startable)


class Bench:
    """One benchmark: its options, scratch dir and table, posthouse and the peer set up.

    posthouse() and peer() set a side up (or say why it cannot run, or that --only skipped
    it); sides() pairs the two runners for a workload, run() measures the workloads. Made by
    ``bench()``, which stops every side and removes the scratch dir at the end."""

    def __init__(self, args: argparse.Namespace, table: Table, lab: Path,
                 stack: contextlib.ExitStack) -> None:
        self.args = args
        self.table = table
        self.lab = lab
        self._stack = stack
        self.ph_err: str | None = NOT_RUN
        self.peer_err: str | None = NOT_RUN

    def enter(self, manager: AbstractContextManager[T]) -> T:
        """Enter a context (a sink...) left when the benchmark ends."""
        return self._stack.enter_context(manager)

    def posthouse(self, users: Iterable[str], *steps: Callable[[Posthouse], object],
                  extra_toml: str = "") -> Posthouse:
        """init, the users, serve, then steps (fill, warm-up); a failure marks the side."""
        ph = Posthouse(self.lab / "posthouse", extra_toml=extra_toml,
                       profile=self.args.profile, profile_clock=self.args.profile_clock,
                       workers=getattr(self.args, "workers", 1))
        self._stack.callback(self._stop_posthouse, ph)
        if wanted(self.args, "posthouse"):
            self.ph_err = try_setup("posthouse", lambda: ph.setup(users), ph.start,
                                    *(lambda step=step: step(ph) for step in steps))
        return ph

    def _stop_posthouse(self, ph: Posthouse) -> None:
        ran = ph.proc is not None
        ph.stop()
        if ran and ph.profile and ph.profile.is_file():
            from bench.profiled import report

            print(report(ph.profile), flush=True)

    def peer(self, peer: PeerT, *steps: Callable[[], object]) -> PeerT:
        """Start the reference peer, then steps; a failure marks the side."""
        self._stack.callback(peer.stop)
        if wanted(self.args, "peer"):
            self.peer_err = try_setup(self.table.peer, peer.start, *steps)
        return peer

    def sides(self, posthouse: Runner, peer: Runner) -> dict[str, Side]:
        """One workload's runners, or why a side cannot run it."""
        return {"posthouse": self.ph_err or posthouse, self.table.peer: self.peer_err or peer}

    def run(self, workloads: Iterable[tuple[str, dict[str, Side]]]) -> None:
        run_table(self.table, rounds(self.args), workloads)


@contextlib.contextmanager
def bench(args: argparse.Namespace, name: str, table: Table) -> Iterator[Bench]:
    """Print the header, run the body in a scratch dir, stop every side, print the table."""
    header(name, args)
    slug = name.split()[0].lower()
    with scratch_dir(f"posthouse-bench-{slug}-") as lab, contextlib.ExitStack() as stack:
        yield Bench(args, table, lab, stack)
    table.print()


# --- mailboxes for the POP3 and IMAP benchmarks -----------------------------------------------

SIZES = (1024, 2048, 4096, 16384)  # cycled over the mailbox: about 6 KB on average


def mailbox_options(p: argparse.ArgumentParser) -> None:
    """--messages and --fill."""
    p.add_argument("--messages", type=int, default=200, help="messages per INBOX")
    p.add_argument("--fill", choices=("smtp", "imap"), default="smtp",
                   help="how posthouse gets the messages")


def mailbox(count: int) -> list[bytes]:
    """The messages every user's INBOX holds."""
    return [sample_message(i, SIZES[i % len(SIZES)]) for i in range(1, count + 1)]


def fill_posthouse(ph: Posthouse, users: list[str], messages: list[bytes], how: str) -> None:
    """Give every user the messages: one SMTP transaction per message, or IMAP APPEND.

    The samples have LF line ends (Maildir style, as Dovecot stores them); on the wire they
    go as CRLF (crlf)."""
    wire = [crlf(data) for data in messages]
    if how == "smtp":
        inject([Injection(ph.require("smtp"), "filler@source.test", users, wire)])
    else:
        port = ph.require("imap")
        for user in users:
            client = imaplib.IMAP4(LOOPBACK, port, timeout=60)
            client.login(user, PASSWORD)
            for data in wire:
                client.append("INBOX", "", None, data)
            client.logout()
    for user in users:
        count = ph.message_count(user)
        if count is not None and count != len(messages):
            raise Refused(f"after the fill {user} has {count} messages, not {len(messages)}")


def with_mailboxes(b: Bench, protocol: str, users: list[str], messages: list[bytes],
                   warm_up: Callable[[int], object]) -> tuple[Posthouse, DovecotPeer]:
    """posthouse and Dovecot whose users each hold messages in INBOX, after one untimed
    warm_up(port) pass on each (Dovecot builds its indexes then)."""
    ph = b.posthouse(users, lambda ph: fill_posthouse(ph, users, messages, b.args.fill),
                     lambda ph: warm_up(ph.require(protocol)))
    dv = DovecotPeer(b.lab / "dovecot", imap_port=free_port(), pop3_port=free_port(),
                     users=dict.fromkeys(users, PASSWORD))
    dv_port = dv.imap_port if protocol == "imap" else dv.pop3_port
    b.peer(dv, *(lambda u=u: dv.add_messages(u, messages) for u in users),
           lambda: warm_up(dv_port))
    return ph, dv


# --- an SMTP injector (threads, smtplib) ------------------------------------------------------


@dataclass(frozen=True)
class Injection:
    """What one injector session sends."""

    port: int
    sender: str
    recipients: Sequence[str]
    messages: Sequence[bytes]
    login: tuple[str, str] | None = None


def _inject_one(job: Injection) -> int:
    with smtplib.SMTP(LOOPBACK, job.port, timeout=60) as client:
        client.ehlo("injector.test")
        if job.login:
            client.login(*job.login)
        for data in job.messages:
            refused = client.sendmail(job.sender, list(job.recipients), data)
            if refused:
                raise Refused(f"recipients refused: {refused}")
    return len(job.messages)


def inject(jobs: Sequence[Injection]) -> float:
    """Run the sessions concurrently; wall seconds until every message was accepted."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        sent = sum(pool.map(_inject_one, jobs))
    if sent != sum(len(j.messages) for j in jobs):
        raise Refused("not every message was sent")
    return time.perf_counter() - started


def crlf(data: bytes) -> bytes:
    """A sample message (LF line ends, Maildir style) as it must go on the wire: CRLF.

    posthouse rightly refuses bare LF in SMTP DATA (550 5.6.0, SMTP smuggling)."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def split(items: Sequence[bytes], parts: int) -> list[list[bytes]]:
    """items dealt round-robin into parts lists (empty ones dropped)."""
    buckets: list[list[bytes]] = [[] for _ in range(max(1, parts))]
    for i, item in enumerate(items):
        buckets[i % len(buckets)].append(item)
    return [b for b in buckets if b]


# --- memory --------------------------------------------------------------------------------


def vm_rss_kib(pid: int) -> int:
    """VmRSS of one process from /proc/PID/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def descendants(pid: int) -> list[int]:
    """pid and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def pss_tree_kib(pid: int) -> int:
    """Proportional set size of pid and its descendants (shared pages split fairly), KiB."""
    total = 0
    for child in descendants(pid):
        if not pid_alive(child):
            continue
        try:
            text = Path(f"/proc/{child}/smaps_rollup").read_text()
        except OSError:
            continue
        total += sum(int(line.split()[1]) for line in text.splitlines()
                     if line.startswith("Pss:"))
    return total


def header(title: str, args: argparse.Namespace) -> None:
    """One line saying what runs, on which machine load."""
    load = os.getloadavg()
    print(f"# {title}: {rounds(args)} round(s){' (quick)' if args.quick else ''}, "
          f"{os.cpu_count()} cpus, load {load[0]:.2f}, python {sys.version.split()[0]}",
          flush=True)
