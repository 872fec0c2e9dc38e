"""Memory per idle IMAP connection: posthouse beside Dovecot (issue 15).

N connections sit idle: plain IMAP after LOGIN and SELECT INBOX, IMAPS after the TLS
handshake, LOGIN and SELECT INBOX (and, plain only, in IDLE). The figure is the server's
growth in proportional set size (PSS over its process tree, shared pages split fairly)
divided by N, with the whole server's PSS while they are open. posthouse is one process;
Dovecot forks an imap process per connection (and, for IMAPS, keeps an imap-login process
per connection as its TLS proxy), so its total PSS is the fair comparison.

posthouse is restarted before every round: memory that earlier connections freed would
otherwise be reused and hide the growth. Before the baseline, a few connections are opened
and closed (lazy imports, caches). The client side runs in this process on one asyncio
loop (uvloop when installed) with RLIMIT_NOFILE raised to its hard limit.

    .venv/bin/python -m bench.bench_idle --quick          # 200 connections, 1 round
    .venv/bin/python -m bench.bench_idle                  # 1,000 connections, 3 rounds
    .venv/bin/python -m bench.bench_idle --count 10000 --peer-count 1000   # the full run
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.peers import LOOPBACK, DovecotPeer, find_tool, free_port, sample_message

from bench.common import (
    DOMAIN,
    PASSWORD,
    Metrics,
    Posthouse,
    Refused,
    Table,
    bench,
    crlf,
    fill_posthouse,
    parser,
    pss_tree_kib,
    quick_or,
)

MESSAGES = [sample_message(i, 2048) for i in range(1, 11)]  # every INBOX: 10 small messages
_OPEN_AT_ONCE = 64  # connections being set up concurrently


def raise_nofile() -> int:
    """This process's soft RLIMIT_NOFILE raised to the hard limit; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def client_tls() -> ssl.SSLContext:
    """A client context that accepts the benchmark's self-signed certificates."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class IdleClient:
    """One connection, logged in with INBOX selected (optionally in IDLE), then left alone."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, user: str, tls: ssl.SSLContext | None,
                   idle: bool) -> IdleClient:
        reader, writer = await asyncio.open_connection(LOOPBACK, port, ssl=tls)
        client = cls(reader, writer)
        await client._line()  # greeting
        await client._command(b"a1", f"LOGIN {_quote(user)} {_quote(PASSWORD)}")
        await client._command(b"a2", "SELECT INBOX")
        if idle:
            writer.write(b"a3 IDLE\r\n")
            while not (await client._line()).startswith(b"+"):
                pass
        return client

    async def _line(self) -> bytes:
        line = await self.reader.readline()
        if not line:
            raise Refused("the server closed an idle connection")
        return line

    async def _command(self, tag: bytes, text: str) -> None:
        self.writer.write(tag + b" " + text.encode() + b"\r\n")
        while True:
            line = await self._line()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise Refused(f"{text.split()[0]}: {line!r}")
                return

    def close(self) -> None:
        self.writer.transport.abort()


async def open_many(port: int, users: list[str], count: int, tls: ssl.SSLContext | None,
                    idle: bool) -> list[IdleClient]:
    """count idle clients, at most _OPEN_AT_ONCE being set up at a time; all closed again
    if one fails."""
    clients: list[IdleClient] = []
    gate = asyncio.Semaphore(_OPEN_AT_ONCE)

    async def one(i: int) -> None:
        async with gate:
            clients.append(await IdleClient.open(port, users[i % len(users)], tls, idle))

    try:
        await asyncio.gather(*(one(i) for i in range(count)))
    except BaseException:
        close_all(clients)
        raise
    return clients


def close_all(clients: list[IdleClient]) -> None:
    for client in clients:
        with contextlib.suppress(Exception):
            client.close()


def run_loop(coro_fn: Callable[[], object]) -> Metrics:
    """Run one measurement on a fresh loop (uvloop when installed)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro_fn())  # type: ignore[arg-type]


def measure(port: int, users: list[str], count: int, tls: ssl.SSLContext | None, idle: bool,
            memory: Callable[[], int], before_round: Callable[[], None] | None = None,
            ) -> Metrics:
    """Growth of the server's memory per idle connection (KiB) and its total (MiB)."""
    if before_round is not None:
        before_round()

    async def body() -> Metrics:
        # one login per user first, one at a time: posthouse's verification cache then
        # knows every password (a burst of cold logins waits for hash slots, or is refused)
        warm = [await IdleClient.open(port, user, tls, idle) for user in users]
        close_all(warm)
        await asyncio.sleep(1.5)  # let Dovecot's processes of the warm-up exit
        before = memory()
        started = time.perf_counter()
        clients = await open_many(port, users, count, tls, idle)
        opened = time.perf_counter() - started
        try:
            await asyncio.sleep(1.0)
            after = memory()
        finally:
            close_all(clients)
        await asyncio.sleep(0.5)
        return {"KiB per connection": (after - before) / count,
                "server MiB with them open": after / 1024,
                "connections opened per s": count / opened}

    return run_loop(body)


def dovecot_tls_config(lab: Path, port: int, count: int) -> str:
    """Dovecot's IMAPS listener with a throw-away certificate, and process limits for count
    connections (an imap process each, and an imap-login process each for TLS)."""
    cert, key = lab / "dovecot-cert.pem", lab / "dovecot-key.pem"
    argv = [find_tool("openssl"), "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "7",
            "-subj", "/CN=dovecot.example.test", "-keyout", str(key), "-out", str(cert)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise Refused(f"openssl could not make a certificate: {proc.stderr.strip()}")
    limit = count + 200
    return f"""
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
mail_max_userip_connections = {limit}
service imap-login {{
  inet_listener imaps {{
    address = {LOOPBACK}
    port = {port}
    ssl = yes
  }}
  process_limit = {limit}
  client_limit = {limit}
}}
service imap {{
  process_limit = {limit}
}}
"""


def main(argv: list[str] | None = None) -> int:
    p = parser("memory per idle IMAP/IMAPS connection: posthouse vs Dovecot")
    p.add_argument("--count", type=int, help="idle connections to posthouse "
                   "(default 1000, quick 200)")
    p.add_argument("--peer-count", type=int, help="idle connections to Dovecot (default: "
                   "--count up to 1000: Dovecot forks a process per connection)")
    p.add_argument("--users", type=int, default=20, help="users the connections log in as")
    args = p.parse_args(argv)
    count = quick_or(args, args.count, 200, 1000)
    peer_count = args.peer_count or min(count, 1000)
    nofile = raise_nofile()
    if nofile < count + peer_count + 100:
        print(f"  RLIMIT_NOFILE {nofile} is low for {count} connections", flush=True)
    users = [f"idle{i}@{DOMAIN}" for i in range(1, args.users + 1)]
    tls = client_tls()
    table = Table(f"IMAP: memory per idle connection, posthouse {count} / Dovecot "
                  f"{peer_count} connections", "dovecot")
    with bench(args, "IDLE memory", table) as b:
        ph = b.posthouse(users, lambda ph: fill_posthouse(ph, users, MESSAGES, "smtp"))
        imaps_port = free_port()
        dv = DovecotPeer(b.lab / "dovecot", imap_port=free_port(), pop3_port=free_port(),
                         users=dict.fromkeys(users, PASSWORD),
                         extra_config=dovecot_tls_config(b.lab, imaps_port, peer_count))
        b.peer(dv, *(lambda u=u: dv.add_messages(u, [crlf(m) for m in MESSAGES])
                     for u in users))

        def restart(ph: Posthouse = ph) -> None:
            ph.stop()
            ph.start()

        def ph_side(protocol: str, idle: bool) -> Callable[[], Metrics]:
            return lambda: measure(ph.require(protocol), users, count,
                                   tls if protocol == "imaps" else None, idle,
                                   lambda: pss_tree_kib(ph.pid), restart)

        def dv_side(port: Callable[[], int], use_tls: bool, idle: bool) -> Callable[[], Metrics]:
            return lambda: measure(port(), users, peer_count, tls if use_tls else None, idle,
                                   lambda: pss_tree_kib(dv.pid or 0))

        b.run([
            ("IMAP, LOGIN + SELECT", b.sides(
                ph_side("imap", False), dv_side(lambda: dv.imap_port, False, False))),
            ("IMAPS, TLS + LOGIN + SELECT", b.sides(
                ph_side("imaps", False), dv_side(lambda: imaps_port, True, False))),
            ("IMAP, in IDLE", b.sides(
                ph_side("imap", True), dv_side(lambda: dv.imap_port, False, True))),
        ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
