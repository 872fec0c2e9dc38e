"""POP3: N concurrent sessions looping USER/PASS, STAT, UIDL, RETR every message, QUIT.

Each session logs in as its own user (POP3 locks a maildrop) whose INBOX holds the same 200
messages of mixed sizes: written as Maildir files for Dovecot, delivered over SMTP (or IMAP
APPEND with --fill imap) for posthouse. The client is one asyncio loop with a small POP3 reader,
so it costs far less CPU than the servers it measures.

    .venv/bin/python -m bench.bench_pop3 --quick
"""

from __future__ import annotations

import asyncio
import imaplib
import sys
import time
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

from bench.common import (
    DOMAIN,
    PASSWORD,
    Injection,
    Metrics,
    Posthouse,
    Refused,
    Side,
    Table,
    header,
    inject,
    parser,
    rounds,
    run_table,
    try_setup,
    wanted,
)

SIZES = (1024, 2048, 4096, 16384)  # cycled over the mailbox: about 6 KB on average


def mailbox(count: int) -> list[bytes]:
    """The messages every user's INBOX holds."""
    return [sample_message(i, SIZES[i % len(SIZES)]) for i in range(1, count + 1)]


class Pop3:
    """A minimal POP3 client on asyncio streams, reading whole responses at once."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()

    @classmethod
    async def connect(cls, port: int) -> Pop3:
        reader, writer = await asyncio.open_connection(LOOPBACK, port, limit=1 << 20)
        client = cls(reader, writer)
        client._take(await client._status() + 2)  # the greeting
        return client

    async def _find(self, marker: bytes, start: int) -> int:
        pos = self.buf.find(marker, start)
        while pos < 0:
            start = max(0, len(self.buf) - len(marker) + 1)
            chunk = await self.reader.read(1 << 16)
            if not chunk:
                raise Refused("the server closed the connection")
            self.buf += chunk
            pos = self.buf.find(marker, start)
        return pos

    def _take(self, end: int) -> bytes:
        data = bytes(self.buf[:end])
        del self.buf[:end]
        return data

    async def _status(self) -> int:
        """Index of the CRLF ending a +OK status line (still buffered); Refused on -ERR."""
        eol = await self._find(b"\r\n", 0)
        if not self.buf.startswith(b"+OK"):
            raise Refused(f"POP3 server said {self._take(eol).decode(errors='replace')}")
        return eol

    async def command(self, line: str) -> bytes:
        """A single-line command; returns the status line."""
        self.writer.write(line.encode() + b"\r\n")
        return self._take(await self._status() + 2)

    async def multiline(self, line: str) -> bytes:
        """A multi-line command (UIDL, RETR); returns status line plus body."""
        self.writer.write(line.encode() + b"\r\n")
        eol = await self._status()
        end = await self._find(b"\r\n.\r\n", eol)  # an empty body ends right at the status
        return self._take(end + 5)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def session(port: int, user: str, expected: int) -> tuple[int, int]:
    """One full session; returns (messages, bytes) retrieved."""
    client = await Pop3.connect(port)
    try:
        await client.command(f"USER {user}")
        await client.command(f"PASS {PASSWORD}")
        count = int((await client.command("STAT")).split()[1])
        if count != expected:
            raise Refused(f"{user} has {count} messages, expected {expected}")
        await client.multiline("UIDL")
        size = 0
        for i in range(1, count + 1):
            size += len(await client.multiline(f"RETR {i}"))
        await client.command("QUIT")
    finally:
        await client.close()
    return count, size


async def worker(port: int, user: str, loops: int, expected: int) -> tuple[int, int]:
    totals = (0, 0)
    for _ in range(loops):
        got = await session(port, user, expected)
        totals = (totals[0] + got[0], totals[1] + got[1])
    return totals


def measure(port: int, users: list[str], loops: int, expected: int) -> Metrics:
    """All users' workers concurrently; sessions/s, messages/s and MB/s."""
    async def all_workers() -> list[tuple[int, int]]:
        return await asyncio.gather(*(worker(port, u, loops, expected) for u in users))

    started = time.perf_counter()
    done = asyncio.run(all_workers())
    seconds = time.perf_counter() - started
    return {"sessions/s": len(users) * loops / seconds,
            "messages/s": sum(m for m, _ in done) / seconds,
            "MB/s": sum(b for _, b in done) / seconds / 1e6}


def fill_posthouse(ph: Posthouse, users: list[str], messages: list[bytes], how: str) -> None:
    """Give every user the messages: one SMTP transaction per message, or IMAP APPEND.

    The samples have LF line ends (Maildir style, as Dovecot stores them); on the wire they
    must be CRLF, or posthouse rightly refuses them (bare LF, SMTP smuggling)."""
    wire = [data.replace(b"\n", b"\r\n") for data in messages]
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


def main(argv: list[str] | None = None) -> int:
    p = parser("POP3 sessions against posthouse and Dovecot, side by side")
    p.add_argument("--sessions", type=int, help="concurrent sessions (default 10, quick 2)")
    p.add_argument("--loops", type=int, help="sessions per worker (default 10, quick 2)")
    p.add_argument("--messages", type=int, default=200, help="messages per INBOX")
    p.add_argument("--fill", choices=("smtp", "imap"), default="smtp",
                   help="how posthouse gets the messages")
    args = p.parse_args(argv)
    sessions = args.sessions or (2 if args.quick else 10)
    loops = args.loops or (2 if args.quick else 10)
    users = [f"pop{i}@{DOMAIN}" for i in range(1, sessions + 1)]
    messages = mailbox(args.messages)
    header("POP3", args)
    table = Table("POP3: login/STAT/UIDL/RETR all/QUIT -> posthouse vs Dovecot", "dovecot")
    with scratch_dir("posthouse-bench-pop3-") as lab:
        ph = Posthouse(lab / "posthouse")
        dv = DovecotPeer(lab / "dovecot", imap_port=free_port(), pop3_port=free_port(),
                         users=dict.fromkeys(users, PASSWORD))
        count = len(messages)
        ph_err = (try_setup("posthouse", lambda: ph.setup(users), ph.start,
                            lambda: fill_posthouse(ph, users, messages, args.fill),
                            lambda: measure(ph.require("pop3"), users, 1, count))  # warm-up
                  if wanted(args, "posthouse") else "not run (--only)")
        dv_err = (try_setup("dovecot", dv.start,
                            *(lambda u=u: dv.add_messages(u, messages) for u in users),
                            lambda: measure(dv.pop3_port, users, 1, count))  # builds indexes
                  if wanted(args, "peer") else "not run (--only)")
        try:
            label = f"{sessions} sessions x {loops} loops, {count} msgs"
            sides: dict[str, Side] = {
                "posthouse": ph_err or (lambda: measure(ph.require("pop3"), users, loops,
                                                        count)),
                "dovecot": dv_err or (lambda: measure(dv.pop3_port, users, loops, count)),
            }
            run_table(table, rounds(args), [(label, sides)])
        finally:
            ph.stop()
            dv.stop()
    table.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
