"""POP3: N concurrent sessions looping USER/PASS, STAT, UIDL, RETR every message, QUIT.

Each session logs in as its own user (POP3 locks a maildrop) whose INBOX holds the same 200
messages of mixed sizes: written as Maildir files for Dovecot, delivered over SMTP (or IMAP
APPEND with --fill imap) for posthouse. The client is one asyncio loop with a small POP3 reader,
so it costs far less CPU than the servers it measures.

    .venv/bin/python -m bench.bench_pop3 --quick
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.peers import LOOPBACK

from bench.common import (
    DOMAIN,
    PASSWORD,
    Metrics,
    Refused,
    Table,
    bench,
    mailbox,
    mailbox_options,
    parser,
    quick_or,
    with_mailboxes,
)


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


def main(argv: list[str] | None = None) -> int:
    p = parser("POP3 sessions against posthouse and Dovecot, side by side")
    p.add_argument("--sessions", type=int, help="concurrent sessions (default 10, quick 2)")
    p.add_argument("--loops", type=int, help="sessions per worker (default 10, quick 2)")
    mailbox_options(p)
    args = p.parse_args(argv)
    sessions = quick_or(args, args.sessions, 2, 10)
    loops = quick_or(args, args.loops, 2, 10)
    users = [f"pop{i}@{DOMAIN}" for i in range(1, sessions + 1)]
    messages = mailbox(args.messages)
    count = len(messages)
    table = Table("POP3: login/STAT/UIDL/RETR all/QUIT -> posthouse vs Dovecot", "dovecot")
    with bench(args, "POP3", table) as b:
        ph, dv = with_mailboxes(b, "pop3", users, messages,
                                lambda port: measure(port, users, 1, count))
        b.run([(f"{sessions} sessions x {loops} loops, {count} msgs", b.sides(
            lambda: measure(ph.require("pop3"), users, loops, count),
            lambda: measure(dv.pop3_port, users, loops, count)))])
    return 0


if __name__ == "__main__":
    sys.exit(main())
