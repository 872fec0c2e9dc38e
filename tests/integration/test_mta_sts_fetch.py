"""The MTA-STS policy fetch (RFC 8461 3.3) over loopback HTTPS, names from our own DNS."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from posthouse.clock import SystemClock
from posthouse.dns.dnspython import DnsPythonResolver
from posthouse.net.tls import client_context
from posthouse.queue.https_get import FetchError, https_get
from posthouse.queue.mta_sts import PolicyCache, StsPolicies
from tests.support.dnsserver import DnsServer, txt_rdata
from tests.support.https_server import HttpsServer
from tests.support.test_ca import TestCa

PATH = "/.well-known/mta-sts.txt"
POLICY = b"version: STSv1\nmode: enforce\nmx: mx.peer.test\nmax_age: 600\n"


@pytest.fixture
def ca(tmp_path: Path) -> TestCa:
    return TestCa(tmp_path / "ca")


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer({"mta-sts.peer.test": {"A": ["127.0.0.1"]},
                        "_mta-sts.peer.test": {"TXT": [txt_rdata("v=STSv1; id=1")]}}).start()
    yield server
    server.stop()


def fetch(ca: TestCa, dns_server: DnsServer, port: int, host: str = "mta-sts.peer.test",
          ) -> tuple[str, bytes]:
    resolver = DnsPythonResolver(dns_server.address)
    ctx = client_context(verify=True, cafile=str(ca.pem_path))
    return asyncio.run(https_get(host, PATH, resolver=resolver, context=ctx, port=port,
                                 within=5))


def serving(ca: TestCa, page: tuple[int, str, bytes], name: str = "mta-sts.peer.test",
            ) -> HttpsServer:
    server = HttpsServer(ca.server_context(name)).start()
    server.pages[PATH] = page
    return server


def test_fetch_resolves_through_our_dns_and_checks_the_name(
        ca: TestCa, dns_server: DnsServer) -> None:
    server = serving(ca, (200, "text/plain; charset=utf-8", POLICY))
    try:
        assert fetch(ca, dns_server, server.port) == ("text/plain; charset=utf-8", POLICY)
        assert ("mta-sts.peer.test", "A") in dns_server.queries
        assert server.requests == [(f"GET {PATH} HTTP/1.1", "mta-sts.peer.test")]
    finally:
        server.stop()


def test_redirect_is_not_followed(ca: TestCa, dns_server: DnsServer) -> None:
    server = serving(ca, (301, "text/plain", b""))
    try:
        with pytest.raises(FetchError, match="HTTP status 301"):
            fetch(ca, dns_server, server.port)
    finally:
        server.stop()


def test_certificate_for_another_name_fails(ca: TestCa, dns_server: DnsServer) -> None:
    server = serving(ca, (200, "text/plain", POLICY), name="www.peer.test")
    try:
        with pytest.raises(FetchError, match=r"(?i)certificate"):
            fetch(ca, dns_server, server.port)
    finally:
        server.stop()


def test_untrusted_certificate_fails(tmp_path: Path, ca: TestCa,
                                     dns_server: DnsServer) -> None:
    other = TestCa(tmp_path / "other")
    server = serving(other, (200, "text/plain", POLICY))
    try:
        with pytest.raises(FetchError, match=r"(?i)certificate"):
            fetch(ca, dns_server, server.port)
    finally:
        server.stop()


def test_body_over_64k_fails(ca: TestCa, dns_server: DnsServer) -> None:
    server = serving(ca, (200, "text/plain", POLICY + b"#" * 70000))
    try:
        with pytest.raises(FetchError, match="too large"):
            fetch(ca, dns_server, server.port)
    finally:
        server.stop()


def test_name_unknown_to_our_dns_fails(ca: TestCa, dns_server: DnsServer) -> None:
    with pytest.raises(FetchError, match="no address"):
        fetch(ca, dns_server, 1, host="mta-sts.localhost")


def test_wrong_media_type_is_an_invalid_policy(tmp_path: Path, ca: TestCa,
                                               dns_server: DnsServer) -> None:
    server = serving(ca, (200, "text/html", POLICY))
    try:
        sts = StsPolicies(resolver=DnsPythonResolver(dns_server.address),
                          cache=PolicyCache(tmp_path / "c"), clock=SystemClock(),
                          context=client_context(verify=True, cafile=str(ca.pem_path)),
                          port=server.port, timeout=5)
        found = asyncio.run(sts.lookup("peer.test"))
        assert found.policy is None
        assert found.problem == "sts-policy-invalid"
    finally:
        server.stop()
