"""REQUIRETLS (RFC 8689) end to end over real sockets.

Inbound: the keyword is offered and the MAIL parameter taken only over TLS. Outbound: a
REQUIRETLS message goes only to a hop reached over TLS with a validated certificate that
offers REQUIRETLS, and the parameter goes with it; otherwise it bounces with 5.7.10. A
"TLS-Required: No" message is delivered even where an MTA-STS policy would stop it.
"""

from __future__ import annotations

import dataclasses
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from posthouse.config import QueueConfig
from tests.support.dnsserver import DnsServer, txt_rdata
from tests.support.https_server import HttpsServer
from tests.support.peer_smtp import DEFAULT_EXTENSIONS, PeerSmtp, self_signed
from tests.support.server import PASSWORD, ServerThread, make_config
from tests.support.test_ca import TestCa

BODY = (b"From: alice@example.test\r\nTo: bob@peer.test\r\nSubject: secret\r\n"
        b"Message-ID: <r1@example.test>\r\n\r\nFor your eyes only.\r\n")


@pytest.fixture
def ca(tmp_path: Path) -> TestCa:
    return TestCa(tmp_path / "ca")


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer({"peer.test": {"MX": ["10 mx.peer.test."]},
                        "mx.peer.test": {"A": ["127.0.0.1"]}}).start()
    yield server
    server.stop()


def start_server(tmp_path: Path, dns_server: DnsServer, ca: TestCa, peer: PeerSmtp,
                 https_port: int = 1) -> ServerThread:
    cfg = make_config(tmp_path / "a")
    cfg = dataclasses.replace(cfg, queue=QueueConfig(
        resolver=dns_server.address, outbound_port=peer.port, tls_ca_file=str(ca.pem_path),
        mta_sts_port=https_port, retry_initial_seconds=600))
    srv = ServerThread(cfg).start()
    srv.add_user("alice@example.test")
    return srv


def client_tls(srv: ServerThread) -> ssl.SSLContext:
    return srv.client_tls()


def submit(srv: ServerThread, data: bytes = BODY, *, requiretls: bool = True) -> None:
    with smtplib.SMTP("127.0.0.1", srv.port("submission"), timeout=10) as client:
        client.ehlo("client.test")
        assert not client.has_extn("requiretls")  # RFC 8689 4.1: not before TLS
        client.starttls(context=client_tls(srv))
        client.ehlo("client.test")
        assert client.has_extn("requiretls")
        client.login("alice@example.test", PASSWORD)
        client.sendmail("alice@example.test", ["bob@peer.test"], data,
                        mail_options=["REQUIRETLS"] if requiretls else [])


def wait_for(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_mail_parameter_refused_before_starttls_accepted_after(
        tmp_path: Path, dns_server: DnsServer, ca: TestCa) -> None:
    peer = PeerSmtp().start()
    srv = start_server(tmp_path, dns_server, ca, peer)
    try:
        with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=10) as client:
            client.ehlo("client.test")
            assert not client.has_extn("requiretls")
            code, text = client.mail("someone@elsewhere.test", ["REQUIRETLS"])
            assert (code, text[:5]) == (555, b"5.5.4")
            client.rset()
            client.starttls(context=client_tls(srv))
            client.ehlo("client.test")
            assert client.has_extn("requiretls")
            code, _ = client.mail("someone@elsewhere.test", ["REQUIRETLS"])
            assert code == 250
            code, _ = client.rset()
            assert code == 250
    finally:
        srv.stop()
        peer.stop()


def test_relayed_only_to_a_validated_hop_offering_requiretls(
        tmp_path: Path, dns_server: DnsServer, ca: TestCa) -> None:
    peer = PeerSmtp(tls=ca.server_context("mx.peer.test"),
                    extensions=(*DEFAULT_EXTENSIONS, "REQUIRETLS")).start()
    srv = start_server(tmp_path, dns_server, ca, peer)
    try:
        submit(srv)
        (got,) = peer.wait_accepted(1)
        assert got.tls
        assert "REQUIRETLS" in got.mail_params
        assert b"For your eyes only." in got.data
    finally:
        srv.stop()
        peer.stop()


def _bounced(srv: ServerThread) -> bytes:
    wait_for(lambda: len(srv.inbox("alice@example.test")) == 1)
    (notice,) = srv.inbox("alice@example.test")
    return notice


@pytest.mark.parametrize("case", ["no-requiretls-keyword", "untrusted-certificate",
                                  "no-starttls"])
def test_bounced_with_5_7_10_otherwise(tmp_path: Path, dns_server: DnsServer, ca: TestCa,
                                        case: str) -> None:
    if case == "no-requiretls-keyword":
        peer = PeerSmtp(tls=ca.server_context("mx.peer.test"))
    elif case == "untrusted-certificate":  # self-signed: not from the configured CA
        ctx, _ = self_signed(tmp_path, "mx.peer.test")
        peer = PeerSmtp(tls=ctx, extensions=(*DEFAULT_EXTENSIONS, "REQUIRETLS"))
    else:
        peer = PeerSmtp(extensions=(*DEFAULT_EXTENSIONS, "REQUIRETLS"))
    peer.start()
    srv = start_server(tmp_path, dns_server, ca, peer)
    try:
        submit(srv)
        notice = _bounced(srv)
        assert b"Status: 5.7.10" in notice
        assert b"REQUIRETLS needed" in notice
        assert peer.messages == []
        assert not any(c.upper().startswith("MAIL") for c in peer.commands)
    finally:
        srv.stop()
        peer.stop()


def test_requiretls_skips_an_mx_without_it_for_the_next_one(
        tmp_path: Path, dns_server: DnsServer, ca: TestCa) -> None:
    """RFC 8689 4.2.1: hosts that do not meet the requirement are passed over."""
    dns_server.records["peer.test"] = {"MX": ["10 mx1.peer.test.", "20 mx2.peer.test."]}
    dns_server.records["mx1.peer.test"] = {"A": ["127.0.0.2"]}
    dns_server.records["mx2.peer.test"] = {"A": ["127.0.0.3"]}
    plain = PeerSmtp(hostname="mx1.peer.test", tls=ca.server_context("mx1.peer.test"),
                     address="127.0.0.2").start()
    strict = PeerSmtp(hostname="mx2.peer.test", tls=ca.server_context("mx2.peer.test"),
                      extensions=(*DEFAULT_EXTENSIONS, "REQUIRETLS"), address="127.0.0.3",
                      port=plain.port).start()
    srv = start_server(tmp_path, dns_server, ca, plain)
    try:
        submit(srv)
        (got,) = strict.wait_accepted(1)
        assert "REQUIRETLS" in got.mail_params
        assert plain.connections == 1
        assert plain.messages == []
        submit(srv, BODY.replace(b"secret", b"plain"), requiretls=False)
        (other,) = plain.wait_accepted(1)  # without REQUIRETLS the best MX is used
        assert "REQUIRETLS" not in other.mail_params
    finally:
        srv.stop()
        plain.stop()
        strict.stop()


def test_tls_required_no_header_delivers_despite_mta_sts_enforce(
        tmp_path: Path, dns_server: DnsServer, ca: TestCa) -> None:
    https = HttpsServer(ca.server_context("mta-sts.peer.test")).start()
    https.pages["/.well-known/mta-sts.txt"] = (
        200, "text/plain", b"version: STSv1\r\nmode: enforce\r\nmx: mx.peer.test\r\n"
                           b"max_age: 86400\r\n")
    dns_server.records["_mta-sts.peer.test"] = {"TXT": [txt_rdata("v=STSv1; id=1")]}
    dns_server.records["mta-sts.peer.test"] = {"A": ["127.0.0.1"]}
    peer = PeerSmtp().start()  # no STARTTLS at all: the policy would defer
    srv = start_server(tmp_path, dns_server, ca, peer, https.port)
    try:
        submit(srv, b"TLS-Required: No\r\n" + BODY, requiretls=False)
        (got,) = peer.wait_accepted(1)
        assert not got.tls
        assert https.requests == []  # RFC 8689 5: the policy is not even looked up
    finally:
        srv.stop()
        peer.stop()
        https.stop()
