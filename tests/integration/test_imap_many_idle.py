"""Many idle IMAPS connections in one server process (issue 15): ``posthouse serve`` (the
real CLI, under uvloop) holds them all while a new client still logs in, IDLE still gets a
delivery, and the server's memory stays bounded.

The count is 2,000 here (POSTHOUSE_IDLE_CONNECTIONS=10000 for the full figure; the bench,
bench/bench_idle.py, measures memory per connection). The client side is one asyncio loop
in this process with RLIMIT_NOFILE raised to its hard limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import os
import resource
import smtplib
import ssl
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.peers import LOOPBACK, free_port
from tests.support.server import DOMAIN, PASSWORD

# generous: 2,000 TLS handshakes take a while on a loaded 2-core machine
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

T = TypeVar("T")

COUNT = int(os.environ.get("POSTHOUSE_IDLE_CONNECTIONS", "2000"))
USERS = [f"idle{i}@{DOMAIN}" for i in range(1, 11)]
# A generous bound on memory per connection: the server's PSS growth divided by COUNT.
# About 20-30 KiB is expected for IMAPS (OpenSSL's per-connection state is most of it);
# asyncio's own TLS transport (a 256 KiB buffer per connection) would fail it.
MAX_KIB_PER_CONNECTION = 100

LIMITS = f"""
[limits]
max_connections = {COUNT + 100}
max_connections_per_ip = {COUNT + 100}
max_connections_per_listener = {COUNT + 100}
max_connections_per_ip_per_listener = {COUNT + 100}
tls_handshake_seconds = 300
"""


def _cli(data_dir: Path, *args: str, stdin: str | None = None) -> None:
    subprocess.run([sys.executable, "-m", "posthouse", *args, "--data-dir", str(data_dir)],
                   input=stdin, capture_output=True, text=True, timeout=120, check=True)


def _pss_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return sum(int(line.split()[1]) for line in text.splitlines() if line.startswith("Pss:"))


class Served:
    """A ``posthouse serve`` subprocess with IMAPS and submissions on free ports."""

    def __init__(self, proc: subprocess.Popen[str], imaps: int, submissions: int) -> None:
        self.proc = proc
        self.imaps = imaps
        self.submissions = submissions


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < COUNT + 200:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below {COUNT} connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    data = tmp_path / "data"
    _cli(data, "init", "--hostname", "mx.example.test", "--domain", DOMAIN)
    with (data / "posthouse.toml").open("a", encoding="utf-8") as f:
        f.write(LIMITS)
    for user in USERS:
        _cli(data, "user", "add", user, "--password-stdin", stdin=PASSWORD + "\n")
    imaps, submissions = free_port(), free_port()
    listen = [f"--listen={p}=off" for p in ("smtp", "submission", "imap", "pop3", "pop3s")]
    log_path = tmp_path / "serve.log"  # a file: a pipe nobody reads would stall the server
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "posthouse", "serve", "--data-dir", str(data), *listen,
             f"--listen=imaps={LOOPBACK}:{imaps}",
             f"--listen=submissions={LOOPBACK}:{submissions}", "--allow-root"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "ready" not in log_path.read_text().splitlines():
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield Served(proc, imaps, submissions)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _client_tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the data dir's self-signed certificate
    return ctx


async def _command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tag: bytes,
                   text: bytes) -> bytes:
    writer.write(tag + b" " + text + b"\r\n")
    while True:
        line = await reader.readline()
        assert line, f"connection closed after {text!r}"
        if line.startswith(tag + b" "):
            return line


async def _open(port: int, user: str, ctx: ssl.SSLContext,
                ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(LOOPBACK, port, ssl=ctx,
                                                   ssl_handshake_timeout=300)
    assert (await reader.readline()).startswith(b"* OK")
    line = await _command(reader, writer, b"a1", f'LOGIN "{user}" "{PASSWORD}"'.encode())
    assert line.startswith(b"a1 OK"), line
    return reader, writer


async def _hold_many(served: Served) -> dict[str, float]:
    """Open COUNT idle connections, check the server while they are open, close them."""
    ctx = _client_tls()
    for user in USERS:  # one login each first: the verification cache then knows them
        _reader, writer = await _open(served.imaps, user, ctx)
        writer.transport.abort()
    await asyncio.sleep(0.5)
    before = _pss_kib(served.proc.pid)
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    gate = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        async with gate:
            conns.append(await _open(served.imaps, USERS[i % len(USERS)], ctx))

    try:
        await asyncio.gather(*(one(i) for i in range(COUNT)))
        assert len(conns) == COUNT
        growth = (_pss_kib(served.proc.pid) - before) / COUNT
        # a new client logs in and IDLE gets a delivery while they are all open
        await asyncio.to_thread(_login_idle_and_deliver, served)
        # the idle ones are still served: a sample answers NOOP
        for i, (reader, writer) in enumerate(conns[:: max(1, COUNT // 20)]):
            line = await _command(reader, writer, b"n%d" % i, b"NOOP")
            assert line.startswith(b"n%d OK" % i), line
    finally:
        for _reader, writer in conns:
            with contextlib.suppress(Exception):
                writer.transport.abort()
    return {"kib_per_connection": growth}


def _login_idle_and_deliver(served: Served) -> None:
    address = USERS[0]
    idler = imaplib.IMAP4_SSL(LOOPBACK, served.imaps, ssl_context=_client_tls(), timeout=60)
    try:
        idler.login(address, PASSWORD)
        status, data = idler.select("INBOX")
        assert status == "OK"
        exists = int(data[0] or b"0")
        tag = idler._new_tag()
        idler.send(tag + b" IDLE\r\n")
        assert idler.readline().startswith(b"+")
        with smtplib.SMTP_SSL(LOOPBACK, served.submissions, context=_client_tls(),
                              timeout=60) as smtp:
            smtp.login(address, PASSWORD)
            smtp.sendmail(address, [address], (
                f"From: <{address}>\r\nTo: <{address}>\r\nSubject: while many idle\r\n"
                "\r\nhello\r\n").encode())
        assert idler.readline() == f"* {exists + 1} EXISTS\r\n".encode()
        idler.send(b"DONE\r\n")
        while not (line := idler.readline()).startswith(tag):
            assert line, "IDLE connection closed"
        assert line.startswith(tag + b" OK"), line
    finally:
        idler.logout()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """On uvloop (a dependency of posthouse) when it is there: less client-side work."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def test_many_idle_imaps_connections_in_one_process(served: Served) -> None:
    figures = _run(_hold_many(served))
    print(f"{COUNT} idle IMAPS connections: {figures['kib_per_connection']:.1f} KiB each")
    assert figures["kib_per_connection"] < MAX_KIB_PER_CONNECTION
    assert served.proc.poll() is None
