"""The SPF evaluator through the real dnspython resolver, over UDP (and TCP when truncated),
against the loopback DNS server serving the RFC 7208 Appendix A zone and the corpus zone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from posthouse.dns.dnspython import DnsPythonResolver
from posthouse.mailauth.spf import SpfLimits, SpfResult, check_helo, check_host, check_mail_from
from posthouse.mailauth.spf_header import received_spf_field, spf_resinfo
from tests.support.dnsserver import DnsServer
from tests.support.spf_zone import CORPUS_SERVFAIL, appendix_a, corpus_zone, spf

P, F, S, N = SpfResult.PASS, SpfResult.FAIL, SpfResult.SOFTFAIL, SpfResult.NEUTRAL
NONE, TEMP, PERM = SpfResult.NONE, SpfResult.TEMPERROR, SpfResult.PERMERROR


@pytest.fixture(scope="module")
def server() -> Iterator[DnsServer]:
    # Appendix A's example.com with its A.1 record "mx/30 mx:example.org/30", and the corpus
    # (whose PTR records for 192.0.2.65 and .66 replace the appendix's)
    zone = appendix_a("v=spf1 mx/30 mx:example.org/30 -all")
    zone.update(corpus_zone())
    zone["long.test"] = {"TXT": spf("v=spf1 " + " ".join(
        f"ip4:198.51.{n}.0/24" for n in range(120)) + " -all")}  # > 512 octets: TCP
    dns = DnsServer(zone)
    dns.servfail.update(CORPUS_SERVFAIL)
    dns.start()
    yield dns
    dns.stop()


def resolver(server: DnsServer) -> DnsPythonResolver:
    return DnsPythonResolver(server.address, timeout=3)


@pytest.mark.parametrize(("ip", "sender", "want"), [
    ("192.0.2.131", "u@example.com", P),        # A.1: mx/30
    ("192.0.2.143", "u@example.com", P),        # A.1: mx:example.org/30
    ("192.0.2.10", "u@example.com", F),
    ("192.0.2.9", "u@ip4.test", P),
    ("::ffff:192.0.2.9", "u@ip4.test", P),
    ("2001:db8::21", "u@mx.test", P),
    ("2001:db8:b::ffff", "u@dual.test", P),
    ("192.0.2.65", "u@ptr.test", P),
    ("192.0.2.66", "u@ptr.test", F),
    ("192.0.2.10", "u@exists.test", P),
    ("10.0.0.1", "alice@macro.test", P),
    ("10.0.0.1", "u@include.test", S),
    ("192.0.2.9", "u@redirect.test", P),
    ("10.0.0.1", "u@neutral.test", N),
    ("10.0.0.1", "u@nospf.test", NONE),
    ("10.0.0.1", "u@nowhere.test", NONE),
    ("10.0.0.1", "u@two.test", PERM),
    ("10.0.0.1", "u@include-none.test", PERM),
    ("10.0.0.1", "u@redirect-none.test", PERM),
    ("10.0.0.1", "u@many.test", PERM),
    ("10.0.0.1", "u@inc0.test", PERM),
    ("10.0.0.1", "u@voids.test", PERM),
    ("10.0.0.1", "u@mx-many.test", PERM),
    ("10.0.0.1", "u@servfail-a.test", TEMP),     # SERVFAIL from the server
    ("10.0.0.1", "u@broken.test", TEMP),
    ("198.51.119.1", "u@long.test", P),          # the record came over TCP
])
def test_over_real_dns(server: DnsServer, ip: str, sender: str, want: SpfResult) -> None:
    got = asyncio.run(check_mail_from(resolver(server), ip, sender, "h.good.test"))
    assert got.result is want, got


def test_truncated_record_is_fetched_over_tcp(server: DnsServer) -> None:
    before = server.tcp_queries
    got = asyncio.run(check_host(resolver(server), "198.51.100.1", "long.test", "u@long.test"))
    assert got.result is P
    assert server.tcp_queries > before


def test_explanation_and_headers(server: DnsServer) -> None:
    got = asyncio.run(check_mail_from(resolver(server), "192.0.2.7", "u@exp.test", "h.test"))
    assert got.result is F
    assert got.explanation == "192.0.2.7 is not one of exp.test's designated mail servers."
    assert spf_resinfo(got).startswith("spf=fail (192.0.2.7 is not one of")
    assert received_spf_field(got, "mx.example.net").startswith(b"Received-SPF: fail (")


def test_helo_over_real_dns(server: DnsServer) -> None:
    got = asyncio.run(check_helo(resolver(server), "192.0.2.9", "ip4.test"))
    assert (got.result, got.identity) == (P, "helo")


def test_unreachable_server_is_temperror() -> None:
    closed = DnsServer().start()
    address = closed.address
    closed.stop()
    got = asyncio.run(check_mail_from(DnsPythonResolver(address, timeout=0.3), "192.0.2.1",
                                      "u@ip4.test", "h.test", limits=SpfLimits(total_seconds=5)))
    assert got.result is TEMP
