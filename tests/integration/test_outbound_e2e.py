"""End to end over two posthouse instances: submission on A, MX lookup, SMTP to B's port 25.

A's DNS is the test server: b.test has an MX pointing to 127.0.0.1 and A's outbound port is
B's SMTP port. A signs with DKIM; the signature is verified on what B stored.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import smtplib
import time
from collections.abc import Callable, Iterator
from email.message import Message
from pathlib import Path

import dkim
import dns.resolver
import pytest

from posthouse.config import QueueConfig, dkim_key_path
from posthouse.provision import dkim_public_record, ensure_dkim_key
from tests.support.dnsserver import DnsServer, txt_rdata
from tests.support.server import PASSWORD, ServerThread, make_config


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer({"b.test": {"MX": ["10 mx.b.test."]},
                        "mx.b.test": {"A": ["127.0.0.1"]}}).start()
    yield server
    server.stop()


@pytest.fixture
def b_server(tmp_path: Path) -> Iterator[ServerThread]:
    cfg = make_config(tmp_path / "b")
    srv = ServerThread(dataclasses.replace(
        cfg, server=dataclasses.replace(cfg.server, hostname="mx.b.test"))).start()
    try:
        srv.add_user("bob@b.test")
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def a_server(tmp_path: Path, dns_server: DnsServer, b_server: ServerThread,
             ) -> Iterator[ServerThread]:
    cfg = make_config(tmp_path / "a", allow_plaintext_on_loopback=True)
    cfg = dataclasses.replace(
        cfg, server=dataclasses.replace(cfg.server, hostname="mx.a.test"),
        queue=QueueConfig(resolver=dns_server.address, outbound_port=b_server.port("smtp")))
    ensure_dkim_key(dkim_key_path(cfg))
    dns_server.records[f"{cfg.dkim.selector}._domainkey.a.test"] = {
        "TXT": [txt_rdata(dkim_public_record(dkim_key_path(cfg)))]}
    srv = ServerThread(cfg).start()
    try:
        srv.add_user("alice@a.test")
        yield srv
    finally:
        srv.stop()


def submit(srv: ServerThread, rcpts: list[str], body: str) -> None:
    with smtplib.SMTP("127.0.0.1", srv.port("submission"), timeout=10) as client:
        client.login("alice@a.test", PASSWORD)
        client.sendmail("alice@a.test", rcpts, body.replace("\n", "\r\n").encode())


def wait_for(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def parse(data: bytes) -> Message:
    return email.message_from_bytes(data, policy=email.policy.compat32)


def test_mail_from_a_reaches_b_signed(a_server: ServerThread, b_server: ServerThread,
                                      dns_server: DnsServer) -> None:
    submit(a_server, ["bob@b.test"],
           "From: alice@a.test\nTo: bob@b.test\nSubject: across\n\nHello from A.\n")
    wait_for(lambda: len(b_server.inbox("bob@b.test")) == 1)
    (stored,) = b_server.inbox("bob@b.test")
    msg = parse(stored)
    assert msg["Subject"] == "across"
    assert msg["Return-Path"] == "<alice@a.test>"
    received = " ".join(msg.get_all("Received") or [])
    assert "by mx.b.test" in received
    assert "with ESMTPS" in received  # opportunistic STARTTLS to B
    assert "d=a.test" in msg["DKIM-Signature"]
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = dns_server.port

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return b"".join(b"".join(r.strings) for r in res.resolve(name.decode(), "TXT"))

    signed = stored[stored.index(b"DKIM-Signature:"):]  # B's trace fields sit above it
    assert dkim.verify(signed, dnsfunc=lookup)
    wait_for(lambda: a_server.call(a_server.store.list_queue()) == [])


def test_unknown_user_at_b_bounces_to_a_sender(a_server: ServerThread,
                                              b_server: ServerThread) -> None:
    submit(a_server, ["bob@b.test", "nobody@b.test"],
           "From: alice@a.test\nSubject: two\n\nOne of you exists.\n")
    wait_for(lambda: len(b_server.inbox("bob@b.test")) == 1)
    wait_for(lambda: len(a_server.inbox("alice@a.test")) == 1)
    (notice,) = a_server.inbox("alice@a.test")
    assert b"Final-Recipient: rfc822;nobody@b.test" in notice
    assert b"Action: failed" in notice
    assert b"Remote-MTA: dns; mx.b.test" in notice
    assert b"Diagnostic-Code: smtp; 550" in notice
    assert b"bob@b.test" not in notice.split(b"Content-Type: message/rfc822")[0].split(
        b"message/delivery-status")[1]


def test_notice_written_by_a_is_signed_for_its_domain(a_server: ServerThread,
                                                      b_server: ServerThread,
                                                      dns_server: DnsServer) -> None:
    # A DSN from MAILER-DAEMON@mx.a.test (null sender) is DKIM-signed with d=a.test, the
    # local domain above the hostname: relaxed-aligned for DMARC at the receiver.
    data = b"From: bob@b.test\r\nSubject: big\r\n\r\n" + b"x" * 200 + b"\r\n"
    # Room for the SIZE announced at RCPT, not for the trace fields added on delivery: the
    # message is taken for alice and carol gets a DSN (5.2.2) sent back to bob at B.
    a_server.add_user("carol@a.test", quota_bytes=len(data) + 5)
    with smtplib.SMTP("127.0.0.1", a_server.port("smtp"), timeout=10) as client:
        assert client.sendmail("bob@b.test", ["alice@a.test", "carol@a.test"], data) == {}
    wait_for(lambda: len(b_server.inbox("bob@b.test")) == 1)
    (notice,) = b_server.inbox("bob@b.test")
    assert b"MAILER-DAEMON@mx.a.test" in notice
    signed = notice[notice.index(b"DKIM-Signature:"):]
    assert b"d=a.test" in signed.split(b"\r\n\r\n", 1)[0]
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = dns_server.port

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return b"".join(b"".join(r.strings) for r in res.resolve(name.decode(), "TXT"))

    assert dkim.verify(signed, dnsfunc=lookup)
