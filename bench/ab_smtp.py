"""Two posthouse builds side by side on port 25, measured so that the machine's drift cancels.

    git worktree add /tmp/before HEAD~1
    .venv/bin/python -m bench.ab_smtp --other /tmp/before

On this shared machine one build's rate moves by 10-20% between back-to-back runs, and the
second run of a pair tends to be faster, so comparing two runs of bench_smtp cannot judge a
change of a few percent. Here both builds serve at once, each from its own data dir and
ports ("this" checkout and ``--other``, whose src/ goes first on PYTHONPATH):

- latency: one client sends a message to each in turn (HELO, MAIL, RCPT, DATA, QUIT on a new
  connection, as smtp-source does), the order flipping every message; medians per build;
- throughput: smtp-source with 20 sessions against each in turn, the order flipping every
  round; msg/s per round and the medians.

It compares builds, not servers: bench_smtp compares posthouse with Postfix.
"""

from __future__ import annotations

import socket
import statistics
import struct
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.peers import LOOPBACK, run_smtp_source, scratch_dir

from bench.common import REPO, Posthouse, parser

RECIPIENT = "bench@example.test"
BODY = (b"From: <bench@source.test>\r\nTo: <bench@example.test>\r\nSubject: ab\r\n\r\n"
        + b"La de da de da.\r\n" * 56 + b".\r\n")
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER 0: close with RST, as smtp-source does


def _reply(sock: socket.socket) -> bytes:
    """Read until the last line of a reply ("NNN text")."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
        lines = data.split(b"\r\n")
        if len(lines) >= 2 and lines[-2][3:4] == b" ":
            return data


def one_message(port: int) -> float:
    """Seconds for one message on a new connection."""
    started = time.perf_counter()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
        sock.connect((LOOPBACK, port))
        _reply(sock)
        for line in (b"HELO ab.test\r\n", b"MAIL FROM:<bench@source.test>\r\n",
                     b"RCPT TO:<" + RECIPIENT.encode() + b">\r\n", b"DATA\r\n", BODY,
                     b"QUIT\r\n"):
            sock.sendall(line)
            if _reply(sock)[:1] not in (b"2", b"3"):
                raise RuntimeError(f"refused at {line[:12]!r}")
    return time.perf_counter() - started


def latency(ports: dict[str, int], messages: int) -> dict[str, float]:
    """Median milliseconds per message of each build, messages interleaved."""
    for name in ports:  # warm up
        for _ in range(50):
            one_message(ports[name])
    times: dict[str, list[float]] = {name: [] for name in ports}
    names = list(ports)
    for n in range(messages):
        for name in (names if n % 2 else reversed(names)):
            times[name].append(one_message(ports[name]))
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def throughput(ports: dict[str, int], rounds: int, messages: int) -> dict[str, list[float]]:
    """msg/s of smtp-source -s 20 per round, the order flipping every round."""
    rates: dict[str, list[float]] = {name: [] for name in ports}
    names = list(ports)
    for n in range(rounds):
        for name in (names if n % 2 else reversed(names)):
            result = run_smtp_source(ports[name], sessions=20, messages=messages,
                                     recipient=RECIPIENT)
            if result.rc != 0:
                raise RuntimeError(f"smtp-source against {name}: {result.output}")
            rates[name].append(messages / result.seconds)
    return rates


def main(argv: list[str] | None = None) -> int:
    p = parser("two posthouse builds side by side (interleaved), SMTP on port 25")
    p.add_argument("--other", type=Path, required=True, help="the other checkout")
    p.add_argument("--messages", type=int, default=1500, help="per build, latency part")
    args = p.parse_args(argv)
    rounds = args.runs or (2 if args.quick else 6)
    messages = 300 if args.quick else args.messages
    with scratch_dir("posthouse-ab-") as lab:
        builds = {"this": Posthouse(lab / "this"),
                  "other": Posthouse(lab / "other", source=args.other.resolve())}
        try:
            for ph in builds.values():
                ph.setup([RECIPIENT])
                ph.start()
            ports = {name: ph.require("smtp") for name, ph in builds.items()}
            print(f"# this = {REPO}, other = {args.other.resolve()}", flush=True)
            ms = latency(ports, messages)
            print(f"1 session, ms per message (median of {messages}): this {ms['this']:.3f}, "
                  f"other {ms['other']:.3f}, this/other {ms['this'] / ms['other']:.3f}")
            rates = throughput(ports, rounds, 300 if args.quick else 1500)
            med = {name: statistics.median(values) for name, values in rates.items()}
            for name, values in rates.items():
                print(f"20 sessions, msg/s {name}: " + " ".join(f"{v:.0f}" for v in values))
            print(f"20 sessions, median msg/s: this {med['this']:.0f}, other "
                  f"{med['other']:.0f}, this/other {med['this'] / med['other']:.3f}")
        finally:
            for ph in builds.values():
                ph.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
