"""Big mailboxes: what the everyday IMAP commands cost as an INBOX grows, posthouse beside
Dovecot.

One user's INBOX grows through --sizes (default 1,000 / 10,000 / 100,000 small messages;
--quick 1,000 / 5,000): posthouse gets them over SMTP, Dovecot straight into its Maildir.
At each size, after an untimed warm-up (Dovecot builds its indexes, posthouse's search index
catches up), each command is timed alone on a logged-in connection, min/median/max over the
rounds:

- SELECT INBOX
- STATUS INBOX (MESSAGES UNSEEN UIDNEXT), from a second connection with nothing selected
- UID FETCH 1:* (FLAGS): what a client without CONDSTORE does on every reconnect
- UID SEARCH UNSEEN
- SEARCH FROM "r@" (every message matches)
- STORE 1:1000 +FLAGS.SILENT (\\Seen) (undone, untimed, after each round)
- SEARCH BODY "4242" (Dovecot without an FTS plugin reads every message)

The last table shows how each command's median grows from one size to the next, divided by
how much the mailbox grew: about 1 means linear, about 0 constant, well above 1 worse than
linear (an O(n^2) path shows here before it shows in a user's face).

    .venv/bin/python -m bench.bench_bigbox --quick
    .venv/bin/python -m bench.bench_bigbox --sizes 1000,10000 --only posthouse --profile p.out
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.peers import DovecotPeer, free_port, sample_message

from bench.bench_resync import USER, Wire
from bench.common import (
    PASSWORD,
    Injection,
    Metrics,
    Refused,
    SideResult,
    Table,
    bench,
    crlf,
    inject,
    parser,
    split,
)

_OPS: tuple[tuple[str, str], ...] = (
    ("SELECT INBOX", "SELECT INBOX"),
    ("STATUS (MESSAGES UNSEEN UIDNEXT)", "STATUS INBOX (MESSAGES UNSEEN UIDNEXT)"),
    ("UID FETCH 1:* (FLAGS)", "UID FETCH 1:* (FLAGS)"),
    ("UID SEARCH UNSEEN", "UID SEARCH UNSEEN"),
    ('SEARCH FROM "r@" (all match)', 'SEARCH FROM "r@"'),
    ("STORE 1:1000 +FLAGS.SILENT (\\Seen)", "STORE 1:1000 +FLAGS.SILENT (\\Seen)"),
    ('SEARCH BODY "4242"', 'SEARCH BODY "4242"'),
)


class Side:
    """One server's two logged-in connections: one with INBOX selected, one without."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.selected: Wire | None = None
        self.idle: Wire | None = None

    def connect(self) -> None:
        """(Re)open both connections; select INBOX on the first."""
        self.close()
        self.selected = Wire(self.port)
        self.selected.command("SELECT INBOX")
        self.idle = Wire(self.port)

    def close(self) -> None:
        for wire in (self.selected, self.idle):
            if wire is not None:
                wire.close()
        self.selected = self.idle = None

    def warm(self, size: int) -> None:
        """Untimed: every command once, so caches and indexes are built."""
        for _, command in _OPS:
            self.timed(_sized(command, size))

    def timed(self, command: str) -> Metrics:
        """One command's wall time in milliseconds (STORE is undone afterwards, untimed)."""
        if self.selected is None or self.idle is None:
            raise Refused("not connected")
        wire = self.idle if command.startswith("STATUS") else self.selected
        started = time.perf_counter()
        wire.command(command)
        seconds = time.perf_counter() - started
        if command.startswith("STORE"):
            self.selected.command(command.replace("+FLAGS", "-FLAGS"))
        return {"ms": seconds * 1000}


def fill_posthouse(port: int, messages: list[bytes]) -> None:
    """posthouse: the messages over SMTP, four sessions at once."""
    wire = [crlf(data) for data in messages]
    inject([Injection(port, "filler@source.test", [USER], part) for part in split(wire, 4)])


def wait_for_index(side: Side, expected: int, timeout: float = 600) -> None:
    """posthouse files the search index after delivery: wait until BODY search sees them."""
    deadline = time.monotonic() + timeout
    probe = f'SEARCH BODY "{expected}:"'
    while time.monotonic() < deadline:
        assert side.selected is not None
        found = side.selected.command(probe)
        if b"* SEARCH " in found and found.split(b"\r\n")[0].strip() != b"* SEARCH":
            return
        time.sleep(0.5)
    raise Refused(f"the search index did not reach message {expected}")


def growth(table: Table, sizes: list[int]) -> str:
    """How each command's median grows from size to size, over how much the mailbox grew."""
    medians: dict[tuple[str, str], dict[int, float]] = {}
    for workload, _, ours, theirs in table.rows:
        label, _, size = workload.rpartition(" @ ")
        for side, result in (("posthouse", ours), (table.peer, theirs)):
            value = _median(result)
            if value is not None:
                medians.setdefault((label, side), {})[int(size)] = value
    steps = list(itertools.pairwise(sizes))
    head = ["## How the cost grows (median ms at each size; growth / size growth)", "",
            "| command | side | " + " | ".join(f"{n:,}" for n in sizes) + " | "
            + " | ".join(f"{a:,}->{b:,}" for a, b in steps) + " |",
            "| --- | --- |" + " --- |" * (len(sizes) + len(steps))]
    lines = []
    for (label, side), by_size in medians.items():
        cells = [f"{by_size[n]:.3g}" if n in by_size else "-" for n in sizes]
        grown = [f"{(by_size[b] / by_size[a]) / (b / a):.2f}"
                 if a in by_size and b in by_size and by_size[a] > 0 else "-"
                 for a, b in steps]
        lines.append(f"| {label} | {side} | " + " | ".join(cells + grown) + " |")
    return "\n".join(head + lines)


def _median(result: SideResult) -> float | None:
    values = result.values.get("ms")
    return statistics.median(values) if values else None


def main(argv: list[str] | None = None) -> int:
    p = parser("Big mailboxes: IMAP command cost as INBOX grows, posthouse vs Dovecot")
    p.add_argument("--sizes", help="comma-separated INBOX sizes (default 1000,10000,100000; "
                   "quick 1000,5000)")
    args = p.parse_args(argv)
    given = args.sizes or ("1000,5000" if args.quick else "1000,10000,100000")
    sizes = sorted({int(n) for n in given.split(",")})
    messages = [sample_message(i, 2048, recipient=USER) for i in range(1, sizes[-1] + 1)]
    table = Table(f"Big INBOX, {', '.join(f'{n:,}' for n in sizes)} messages of 2 KB -> "
                  "posthouse vs Dovecot", "dovecot")
    with bench(args, "IMAP bigbox", table) as b:
        ph = b.posthouse([USER])
        dv = DovecotPeer(b.lab / "dovecot", imap_port=free_port(), pop3_port=free_port(),
                         users={USER: PASSWORD})
        b.peer(dv)
        ours = Side(ph.port("imap")) if b.ph_err is None else None
        theirs = Side(dv.imap_port) if b.peer_err is None else None
        have = 0
        for size in sizes:
            batch = messages[have:size]
            started = time.perf_counter()
            if ours is not None:
                fill_posthouse(ph.require("smtp"), batch)
            if theirs is not None:
                dv.add_messages(USER, batch)
            have = size
            print(f"- INBOX now {size:,} messages (filled in "
                  f"{time.perf_counter() - started:.0f} s)", flush=True)
            for side in (ours, theirs):
                if side is not None:
                    side.connect()
                    if side is ours:
                        wait_for_index(side, size)
                    side.warm(size)
            b.run([(f"{label} @ {size}", b.sides(_runner(ours, _sized(command, size)),
                                                  _runner(theirs, _sized(command, size))))
                   for label, command in _OPS])
        for side in (ours, theirs):
            if side is not None:
                side.close()
    print("\n" + growth(table, sizes) + "\n", flush=True)
    return 0


def _sized(command: str, size: int) -> str:
    """STORE touches the first 1,000 messages, or all of a smaller mailbox."""
    return command.replace("1:1000", f"1:{min(1000, size)}")


def _runner(side: Side | None, command: str) -> Callable[[], Metrics]:
    def run() -> Metrics:
        if side is None:
            raise Refused("side not set up")
        return side.timed(command)
    return run


if __name__ == "__main__":
    sys.exit(main())
