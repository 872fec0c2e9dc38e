"""IMAP resync of a big mailbox where few messages changed: QRESYNC and CONDSTORE vs a full
``UID FETCH 1:* (FLAGS)``, posthouse beside Dovecot.

One user holds --messages (default 100,000; --quick 5,000) small messages. Before each
round, untimed, a client notes UIDVALIDITY and HIGHESTMODSEQ, then another session changes
--changed messages (default 100: nine in ten get a flag, one in ten is expunged). Timed,
each on a fresh connection (LOGIN included):

- full: ``SELECT INBOX`` then ``UID FETCH 1:* (FLAGS)``, what a client without the
  extensions must do to learn flags and expunges;
- condstore: ``SELECT INBOX (CONDSTORE)`` then ``UID FETCH 1:* (FLAGS) (CHANGEDSINCE m)``
  (flag changes only; expunges would still need a UID SEARCH);
- qresync: ``ENABLE QRESYNC`` then ``SELECT INBOX (QRESYNC (uidvalidity m))``: the changed
  flags and VANISHED (EARLIER) in one command.

Figures: milliseconds per resync and KiB the server sent. A raw socket client reads the
responses, so client-side parsing costs nothing on either side.

    .venv/bin/python -m bench.bench_resync --quick
"""

from __future__ import annotations

import random
import re
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.peers import LOOPBACK, DovecotPeer, free_port, sample_message

from bench.common import (
    DOMAIN,
    PASSWORD,
    Injection,
    Metrics,
    Refused,
    Table,
    bench,
    crlf,
    inject,
    parser,
    quick_or,
    split,
)

USER = f"resync@{DOMAIN}"
_TAGGED = re.compile(rb"^(t\d+) (OK|NO|BAD)")
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


class Wire:
    """A raw IMAP connection: commands out, responses counted and searched, not parsed."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((LOOPBACK, port), timeout=300)
        self.file = self.sock.makefile("rb", buffering=1 << 16)
        self.received = len(self.file.readline())
        self.count = 0
        self.command(f'LOGIN "{USER}" "{PASSWORD}"')

    def command(self, text: str) -> bytes:
        """Send one command; all of its responses as one bytes (Refused unless OK)."""
        self.count += 1
        tag = f"t{self.count}".encode()
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        chunks = []
        while True:
            line = self.file.readline()
            if not line:
                raise Refused(f"connection closed during {text.split()[0]}")
            while (literal := _LITERAL.search(line)) is not None:
                line += self.file.read(int(literal[1]))
                line += self.file.readline()
            chunks.append(line)
            self.received += len(line)
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise Refused(f"{text[:60]}: {line[:200]!r}")
                return b"".join(chunks)

    def close(self) -> None:
        """LOGOUT and close."""
        try:
            self.sock.sendall(b"z LOGOUT\r\n")
        finally:
            self.file.close()
            self.sock.close()


def _number(data: bytes, name: str) -> int:
    found = re.search(rb"\[" + name.encode() + rb" (\d+)\]", data)
    if found is None:
        raise Refused(f"no {name} in the SELECT response")
    return int(found[1])


class Resync:
    """The state of one side: its port, the client's last sync point, the change pattern."""

    def __init__(self, port: int, changed: int, seed: int) -> None:
        self.port = port
        self.changed = changed
        self.rng = random.Random(seed)
        self.uidvalidity = 0
        self.modseq = 0

    def prepare(self) -> None:
        """Untimed: note the sync point, then change ``changed`` messages elsewhere."""
        wire = Wire(self.port)
        try:
            selected = wire.command("SELECT INBOX (CONDSTORE)")
            self.uidvalidity = _number(selected, "UIDVALIDITY")
            self.modseq = _number(selected, "HIGHESTMODSEQ")
            uids = re.findall(rb" (\d+)", wire.command("UID SEARCH ALL").split(b"\r\n")[0])
            picked = self.rng.sample([u.decode() for u in uids], self.changed)
            gone = picked[: max(1, self.changed // 10)]
            flagged = picked[len(gone):]
            flag = self.rng.choice(["\\Flagged", "\\Answered", "$Work"])
            wire.command(f"UID STORE {','.join(flagged)} +FLAGS.SILENT ({flag})")
            wire.command(f"UID STORE {','.join(gone)} +FLAGS.SILENT (\\Deleted)")
            wire.command(f"UID EXPUNGE {','.join(gone)}")
        finally:
            wire.close()

    def run(self, steps: Callable[[Wire], object]) -> Metrics:
        """prepare(), then the timed resync on a fresh connection."""
        self.prepare()
        started = time.perf_counter()
        wire = Wire(self.port)
        steps(wire)
        seconds = time.perf_counter() - started
        wire.close()
        return {"ms per resync": seconds * 1000, "KiB received": wire.received / 1024}

    def full(self) -> Metrics:
        """SELECT, then every uid's flags."""
        return self.run(lambda w: (w.command("SELECT INBOX"),
                                   w.command("UID FETCH 1:* (FLAGS)")))

    def condstore(self) -> Metrics:
        """SELECT (CONDSTORE), then the flags changed since the sync point."""
        return self.run(lambda w: (
            w.command("SELECT INBOX (CONDSTORE)"),
            w.command(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {self.modseq})")))

    def qresync(self) -> Metrics:
        """ENABLE QRESYNC, then SELECT with the sync point: changes and VANISHED."""
        def steps(w: Wire) -> None:
            w.command("ENABLE QRESYNC")
            out = w.command(f"SELECT INBOX (QRESYNC ({self.uidvalidity} {self.modseq}))")
            if b"VANISHED (EARLIER)" not in out:
                raise Refused("no VANISHED (EARLIER) in the QRESYNC answer")
        return self.run(steps)


def fill(port: int, messages: list[bytes]) -> None:
    """posthouse: the messages over SMTP, four sessions at once."""
    wire = [crlf(data) for data in messages]
    inject([Injection(port, "filler@source.test", [USER], part) for part in split(wire, 4)])


def main(argv: list[str] | None = None) -> int:
    p = parser("IMAP resync of a big mailbox: QRESYNC/CONDSTORE vs full, posthouse vs Dovecot")
    p.add_argument("--messages", type=int, help="messages in INBOX (default 100000, "
                   "quick 5000)")
    p.add_argument("--changed", type=int, default=100, help="messages changed per round")
    args = p.parse_args(argv)
    count = quick_or(args, args.messages, 5000, 100_000)
    messages = [sample_message(i, 1024, recipient=USER) for i in range(1, count + 1)]
    table = Table(f"IMAP resync, {count} messages, {args.changed} changed -> posthouse vs "
                  "Dovecot", "dovecot")
    with bench(args, "IMAP resync", table) as b:
        started = time.perf_counter()
        ph = b.posthouse([USER], lambda ph: fill(ph.require("smtp"), messages))
        print(f"  posthouse filled in {time.perf_counter() - started:.0f} s", flush=True)
        dv = DovecotPeer(b.lab / "dovecot", imap_port=free_port(), pop3_port=free_port(),
                         users={USER: PASSWORD})
        b.peer(dv, lambda: dv.add_messages(USER, messages))
        ours = Resync(ph.port("imap") if b.ph_err is None else 0, args.changed, 1)
        theirs = Resync(dv.imap_port, args.changed, 1)
        for side in (ours, theirs):  # untimed warm-up (Dovecot builds its indexes)
            if side.port and (side is ours or b.peer_err is None):
                side.full()
        b.run([
            ("full: SELECT + UID FETCH 1:* (FLAGS)", b.sides(ours.full, theirs.full)),
            ("CONDSTORE: UID FETCH 1:* (FLAGS) (CHANGEDSINCE m)",
             b.sides(ours.condstore, theirs.condstore)),
            ("QRESYNC: SELECT INBOX (QRESYNC (v m))", b.sides(ours.qresync, theirs.qresync)),
        ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
