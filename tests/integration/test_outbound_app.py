"""The queue worker as App runs it: whole servers, in a thread and as a process killed -9."""

from __future__ import annotations

import dataclasses
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest

from posthouse.config import QueueConfig
from posthouse.store.models import OutboundEnvelope, OutboundRecipient, RecipientState
from tests.support.dnsserver import DnsServer
from tests.support.peer_smtp import PeerSmtp
from tests.support.server import ServerThread, make_config
from tests.support.stores import sqlite_store


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer({"peer.test": {"MX": ["10 mx.peer.test."]},
                        "mx.peer.test": {"A": ["127.0.0.1"]}}).start()
    yield server
    server.stop()


def wait_for(check: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_app_starts_the_worker_and_wake_delivers(tmp_path: Path, dns_server: DnsServer,
                                                 peer: PeerSmtp) -> None:
    cfg = make_config(tmp_path / "data")
    cfg = dataclasses.replace(cfg, queue=QueueConfig(resolver=dns_server.address,
                                                     outbound_port=peer.port))
    srv = ServerThread(cfg).start()
    try:
        user = srv.add_user("alice@example.test")
        peer.rcpt_replies["carol@peer.test"] = "550 5.1.1 unknown"
        envelope = OutboundEnvelope("alice@example.test", (
            OutboundRecipient("bob@peer.test"), OutboundRecipient("carol@peer.test")),
            sender_user_id=user.id)
        srv.call(srv.store.enqueue(b"From: alice@example.test\r\nSubject: hi\r\n\r\nhi\r\n",
                                   envelope))
        srv.loop.call_soon_threadsafe(srv.app.queue_worker.wake)
        assert [m.rcpts for m in peer.wait_accepted(1)] == [["bob@peer.test"]]
        wait_for(lambda: len(srv.inbox("alice@example.test")) == 1)
        (notice,) = srv.inbox("alice@example.test")
        assert b"Diagnostic-Code: smtp; 550 5.1.1 unknown" in notice
        wait_for(lambda: srv.call(srv.store.list_queue()) == [])
    finally:
        srv.stop()


def _write_config(path: Path, data: Path, dns: DnsServer, port: int) -> None:
    listen = "\n".join(f"{p} = []" for p in ("smtp", "submission", "submissions", "imap",
                                              "imaps", "pop3", "pop3s", "http", "https"))
    path.write_text(
        f'[server]\nhostname = "mx.example.test"\ndata_dir = "{data}"\n'
        f"[listen]\n{listen}\n"
        f'[queue]\nresolver = "{dns.address}"\noutbound_port = {port}\n'
        "concurrency = 8\nconcurrency_per_domain = 4\nretry_initial_seconds = 1\n",
        encoding="utf-8")


def _serve(config: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "posthouse", "serve", "--config", str(config),
                             "--allow-root"],  # the suite may run as root
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    seen = b""
    while b"ready\n" not in seen:
        assert proc.poll() is None, seen
        assert time.monotonic() < deadline, seen
        if select.select([proc.stdout], [], [], 0.5)[0]:  # raw reads: no hidden buffer
            seen += os.read(proc.stdout.fileno(), 4096)
    return proc


def _stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(60)
    finally:
        if proc.stdout is not None:
            proc.stdout.close()


async def _fill(data: Path, count: int) -> None:
    store = sqlite_store(data)
    await store.open()
    try:
        for i in range(count):
            body = f"From: a@example.test\r\nSubject: batch {i}\r\n\r\nmessage {i}\r\n"
            await store.enqueue(body.encode(), OutboundEnvelope(
                "a@example.test", (OutboundRecipient(f"r{i % 7}@peer.test"),)))
    finally:
        await store.close()


async def _leftovers(data: Path) -> list[int]:
    store = sqlite_store(data)
    await store.open()
    try:
        return [q.id for q in await store.list_queue()
                if any(r.state is RecipientState.PENDING for r in q.recipients)]
    finally:
        await store.close()


@pytest.mark.slow
def test_kill_9_mid_batch_loses_nothing(tmp_path: Path, dns_server: DnsServer,
                                        peer: PeerSmtp) -> None:
    """200 queued; SIGKILL while they go out; after a restart every message arrives, and
    only the ones in flight at the kill (one per connection at most) may arrive twice."""
    import asyncio

    data = tmp_path / "data"
    config = tmp_path / "posthouse.toml"
    _write_config(config, data, dns_server, peer.port)
    data.mkdir()
    asyncio.run(_fill(data, 200))
    peer.delay = 0.01
    proc = _serve(config)
    try:
        wait_for(lambda: len(peer.accepted()) >= 40)
    finally:
        _stop(proc, signal.SIGKILL)
    before = len(peer.accepted())
    assert before < 200, "the batch finished before the kill: make the peer slower"
    proc = _serve(config)
    try:
        parser = BytesHeaderParser()

        def subjects() -> list[str]:
            return [str(parser.parsebytes(m.data)["Subject"]) for m in peer.accepted()]

        wait_for(lambda: len(set(subjects())) == 200, timeout=120)
    finally:
        _stop(proc, signal.SIGTERM)
    got = subjects()
    assert set(got) == {f"batch {i}" for i in range(200)}
    assert len(got) - 200 <= 4  # concurrency_per_domain connections, one message each
    assert asyncio.run(_leftovers(data)) == []
