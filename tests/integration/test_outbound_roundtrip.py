"""Issue 6 acceptance: alice@a.test writes to bob@b.test through A's submission port; A finds
B by MX (test DNS) and relays over SMTP; bob reads it over IMAP on B and replies the same way
back; alice reads the reply over IMAP on A. DKIM verifies in both directions."""

from __future__ import annotations

import dataclasses
import email
import imaplib
import smtplib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dkim
import dns.resolver
import pytest

from posthouse.config import QueueConfig, dkim_key_path
from posthouse.provision import dkim_public_record, ensure_dkim_key
from tests.support.dnsserver import DnsServer, txt_rdata
from tests.support.server import PASSWORD, ServerThread, make_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer({
        "a.test": {"MX": ["10 mx.a.test."]}, "mx.a.test": {"A": ["127.0.0.1"]},
        "b.test": {"MX": ["10 mx.b.test."]}, "mx.b.test": {"A": ["127.0.0.1"]},
    }).start()
    yield server
    server.stop()


def start_instance(root: Path, name: str, *, smtp_port: int, peer_port: int,
                   dns_server: DnsServer, user: str) -> ServerThread:
    cfg = make_config(root / name)
    listen = dataclasses.replace(cfg.listen, smtp=[f"127.0.0.1:{smtp_port}"])
    cfg = dataclasses.replace(
        cfg, listen=listen,
        server=dataclasses.replace(cfg.server, hostname=f"mx.{name}.test"),
        queue=QueueConfig(resolver=dns_server.address, outbound_port=peer_port,
                          retry_initial_seconds=1))
    ensure_dkim_key(dkim_key_path(cfg))
    dns_server.records[f"{cfg.dkim.selector}._domainkey.{name}.test"] = {
        "TXT": [txt_rdata(dkim_public_record(dkim_key_path(cfg)))]}
    srv = ServerThread(cfg).start()
    srv.add_user(user)
    return srv


@pytest.fixture
def pair(tmp_path: Path, dns_server: DnsServer) -> Iterator[tuple[ServerThread, ServerThread]]:
    port_a, port_b = free_port(), free_port()
    a = start_instance(tmp_path, "a", smtp_port=port_a, peer_port=port_b,
                       dns_server=dns_server, user="alice@a.test")
    try:
        b = start_instance(tmp_path, "b", smtp_port=port_b, peer_port=port_a,
                           dns_server=dns_server, user="bob@b.test")
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


def submit(srv: ServerThread, sender: str, rcpt: str, text: str) -> None:
    with smtplib.SMTP_SSL("127.0.0.1", srv.port("submissions"), context=srv.client_tls(),
                          timeout=10) as client:
        client.login(sender, PASSWORD)
        client.sendmail(sender, [rcpt], text.replace("\n", "\r\n").encode())


def read_inbox_over_imap(srv: ServerThread, user: str, count: int) -> list[bytes]:
    """Poll over IMAPS until ``count`` messages are there; return their bytes."""
    deadline = time.monotonic() + 30
    client = imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"), ssl_context=srv.client_tls())
    try:
        client.login(user, PASSWORD)
        while True:
            typ, data = client.select("INBOX")
            assert typ == "OK"
            if int(data[0] or 0) >= count:
                break
            assert time.monotonic() < deadline, "mail did not arrive"
            time.sleep(0.1)
        typ, parts = client.fetch("1:*", "(BODY.PEEK[])")
        assert typ == "OK"
        return [p[1] for p in parts if isinstance(p, tuple)]
    finally:
        client.logout()


def dkim_ok(stored: bytes, dns_server: DnsServer) -> bool:
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = dns_server.port

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return b"".join(b"".join(r.strings) for r in res.resolve(name.decode(), "TXT"))

    return bool(dkim.verify(stored[stored.index(b"DKIM-Signature:"):], dnsfunc=lookup))


def wait_for(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_mail_and_reply_cross_two_servers(pair: tuple[ServerThread, ServerThread],
                                          dns_server: DnsServer) -> None:
    a, b = pair
    submit(a, "alice@a.test", "bob@b.test",
           "From: alice@a.test\nTo: bob@b.test\nSubject: ping\nMessage-ID: <p1@a.test>\n\n"
           "Are you there?\n")
    (got,) = read_inbox_over_imap(b, "bob@b.test", 1)
    msg = email.message_from_bytes(got)
    assert msg["Subject"] == "ping"
    assert "Are you there?" in msg.get_payload()
    assert dkim_ok(got, dns_server)
    submit(b, "bob@b.test", "alice@a.test",
           "From: bob@b.test\nTo: alice@a.test\nSubject: Re: ping\nIn-Reply-To: <p1@a.test>\n"
           "\nYes.\n")
    (reply,) = read_inbox_over_imap(a, "alice@a.test", 1)
    msg = email.message_from_bytes(reply)
    assert msg["Subject"] == "Re: ping"
    assert msg["In-Reply-To"] == "<p1@a.test>"
    assert dkim_ok(reply, dns_server)
    wait_for(lambda: a.call(a.store.list_queue()) == [] and b.call(b.store.list_queue()) == [])
