"""SPF on port 25 ([checks] spf, on by default): the verdict is recorded as a Received-SPF
field above the Received field (RFC 7208 9.1), with the server's own DNS resolver pointed at
the loopback DNS server. Mail is never refused for SPF alone."""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from posthouse.config import ChecksConfig, QueueConfig, replace_section
from tests.support.dnsserver import DnsServer
from tests.support.server import ServerThread, make_config
from tests.support.spf_zone import spf

ANN = "ann@example.test"
MSG = b"Subject: hello\r\nFrom: peer@remote.test\r\n\r\nhello\r\n"

pytestmark = pytest.mark.usefixtures("no_server_errors")


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    server = DnsServer({
        "pass.spf.test": {"TXT": spf("v=spf1 ip4:127.0.0.0/8 -all")},
        "fail.spf.test": {"TXT": spf("v=spf1 ip4:192.0.2.0/24 -all exp=why.spf.test")},
        "why.spf.test": {"TXT": spf("%{i} may not send for %{d}")},
        "client.spf.test": {"A": ["127.0.0.1"], "TXT": spf("v=spf1 a -all")},
        "soft.spf.test": {"TXT": spf("v=spf1 ip4:192.0.2.1 ~all")},
        "neutral.spf.test": {"TXT": spf("v=spf1 ?all")},
        "broken.spf.test": {"TXT": spf("v=spf1 ip4:300.1.1.1 -all")},
        "loop.spf.test": {"TXT": spf("v=spf1 include:loop.spf.test -all")},
        "down.spf.test": {"TXT": spf("v=spf1 include:servfail.spf.test -all")},
        # RFC 7208 Appendix A.1: "v=spf1 mx -all" with example.com's MX hosts.
        "example.com": {"MX": ["10 mail-a.example.com.", "20 mail-b.example.com."],
                        "TXT": spf("v=spf1 mx -all")},
        "mail-a.example.com": {"A": ["192.0.2.129"]},
        "mail-b.example.com": {"A": ["127.0.0.1"]},
    })
    server.servfail.add("servfail.spf.test")
    server.start()
    yield server
    server.stop()


def start(tmp_path: Path, dns: DnsServer, *, spf_on: bool) -> ServerThread:
    cfg = replace_section(make_config(tmp_path / "data"),
                          checks=ChecksConfig(spf=spf_on, spf_timeout_seconds=5, iprev=False),
                          queue=QueueConfig(resolver=dns.address))
    server = ServerThread(cfg).start()
    server.add_user(ANN)
    return server


def send(server: ServerThread, sender: str, helo: str = "client.spf.test") -> bytes:
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as client:
        client.ehlo(helo)
        client.sendmail(sender, [ANN], MSG)
    return server.inbox(ANN)[-1]


def fields(stored: bytes) -> list[str]:
    head = stored.split(b"\r\n\r\n", 1)[0].decode()
    return re.split(r"\r\n(?![ \t])", head)


def test_received_spf_above_received(tmp_path: Path, dns: DnsServer) -> None:
    server = start(tmp_path, dns, spf_on=True)
    try:
        got = fields(send(server, "someone@pass.spf.test"))
        assert got[0].startswith("Return-Path: <someone@pass.spf.test>")
        assert got[1].startswith("Received-SPF: pass (mx.example.test: domain of "
                                 "someone@pass.spf.test designates 127.0.0.1 as permitted")
        assert 'envelope-from="someone@pass.spf.test";' in got[1]
        assert "helo=client.spf.test;" in got[1]
        assert got[2].startswith("Authentication-Results: mx.example.test;\r\n\tspf=pass "
                                 "smtp.mailfrom=someone@pass.spf.test;")
        assert got[3].startswith("Received: from client.spf.test")

        failed = fields(send(server, "someone@fail.spf.test"))[1]
        assert failed.startswith("Received-SPF: fail (")  # recorded, the mail still accepted

        null = fields(send(server, ""))[1]  # <>: postmaster@<HELO> (RFC 7208 2.4)
        assert null.startswith("Received-SPF: pass (mx.example.test: domain of "
                               "postmaster@client.spf.test designates 127.0.0.1")

        none = fields(send(server, "x@nowhere.spf.test"))[1]
        assert none.startswith("Received-SPF: none (")
    finally:
        server.stop()


def test_off_when_configured(tmp_path: Path, dns: DnsServer) -> None:
    server = start(tmp_path, dns, spf_on=False)
    dns.queries.clear()
    try:
        got = fields(send(server, "someone@pass.spf.test"))
        assert not any(f.startswith("Received-SPF:") for f in got)
        assert ("pass.spf.test", "TXT") not in dns.queries
    finally:
        server.stop()


@pytest.mark.parametrize(("sender", "result"), [
    ("a@soft.spf.test", "softfail"),
    ("a@neutral.spf.test", "neutral"),
    ("a@broken.spf.test", "permerror"),  # RFC 7208 4.6: a syntax error
    ("a@loop.spf.test", "permerror"),  # 4.6.4: more than 10 DNS-querying terms
    ("a@down.spf.test", "temperror"),  # 5.2: the include's lookup failed
    ("a@example.com", "pass"),  # Appendix A.1 "mx": 127.0.0.1 is mail-b's address
])
def test_every_result_recorded_and_mail_accepted(tmp_path: Path, dns: DnsServer, sender: str,
                                                 result: str) -> None:
    server = start(tmp_path, dns, spf_on=True)
    try:
        got = fields(send(server, sender))
        assert got[1].startswith(f"Received-SPF: {result} ("), got[1]
        assert f"spf={result} " in got[2], got[2]
        assert f"smtp.mailfrom={sender}" in got[2], got[2]
    finally:
        server.stop()
