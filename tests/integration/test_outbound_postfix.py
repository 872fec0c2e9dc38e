"""Outbound delivery to a real Postfix as the remote MX (STARTTLS, pipelining, DSN, 550)."""

from __future__ import annotations

import dataclasses
import smtplib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from posthouse.config import QueueConfig
from tests.support.dnsserver import DnsServer
from tests.support.peers import PostfixPeer, free_port, scratch_dir
from tests.support.server import PASSWORD, ServerThread, make_config

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def postfix() -> Iterator[PostfixPeer]:
    with scratch_dir() as lab, PostfixPeer(lab / "postfix", smtp_port=free_port(),
                                           mydomain="peer.test", mailboxes=["ann"],
                                           tls=True) as pf:
        yield pf


@pytest.fixture
def posthouse(tmp_path: Path, postfix: PostfixPeer) -> Iterator[ServerThread]:
    dns = DnsServer({"peer.test": {"MX": ["10 mx.peer.test."]},
                     "mx.peer.test": {"A": ["127.0.0.1"]}}).start()
    cfg = make_config(tmp_path / "data", allow_plaintext_on_loopback=True)
    cfg = dataclasses.replace(cfg, queue=QueueConfig(resolver=dns.address,
                                                     outbound_port=postfix.smtp_port))
    srv = ServerThread(cfg).start()
    try:
        srv.add_user("alice@example.test")
        yield srv
    finally:
        srv.stop()
        dns.stop()


def wait_for(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_delivery_to_postfix_and_bounce_from_it(posthouse: ServerThread,
                                                 postfix: PostfixPeer) -> None:
    with smtplib.SMTP("127.0.0.1", posthouse.port("submission"), timeout=10) as client:
        client.login("alice@example.test", PASSWORD)
        client.sendmail("alice@example.test", ["ann@peer.test", "nobody@peer.test"],
                        b"From: alice@example.test\r\nSubject: to postfix\r\n\r\nhi ann\r\n")
    assert postfix.wait_for_count("ann@peer.test", 1, timeout=60) == 1
    (got,) = postfix.messages("ann@peer.test")
    assert b"Subject: to postfix" in got
    assert b"DKIM-Signature:" not in got  # no DKIM key in this data dir: signing is off
    # smtpd_tls_loglevel = 1: Postfix logs each TLS session it accepted
    assert "TLS connection established from" in postfix.log_path.read_text(errors="replace")
    wait_for(lambda: len(posthouse.inbox("alice@example.test")) == 1)
    (notice,) = posthouse.inbox("alice@example.test")
    assert b"Final-Recipient: rfc822;nobody@peer.test" in notice
    assert b"Diagnostic-Code: smtp; 550 5.1.1" in notice
    wait_for(lambda: posthouse.call(posthouse.store.list_queue()) == [])
