"""DnsPythonResolver against the test DNS server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from posthouse.dns.dnspython import DnsPythonResolver
from posthouse.dns.resolver import MxHost, NoRecords, NullMx, TempFail
from tests.support.dnsserver import DnsServer, txt_rdata

LONG_TXT = ["v=DKIM1; k=rsa; p=" + c * 900 for c in "ABC"]  # several strings each, and TCP


@pytest.fixture(scope="module")
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer({
        "peer.test": {"MX": ["20 mx2.peer.test.", "10 mx1.peer.test."],
                      "TXT": [txt_rdata("v=spf1 -all")]},
        "mx1.peer.test": {"A": ["127.0.0.1"], "AAAA": ["::1"]},
        "v6only.test": {"AAAA": ["::1"]},
        "null.test": {"MX": ["0 ."]},
        "nomx.test": {"A": ["127.0.0.2"]},
        "big.test": {"TXT": [txt_rdata(t) for t in LONG_TXT]},
        "broken.test": {"MX": ["10 mx.broken.test."]},
        "1.0.0.127.in-addr.arpa": {"PTR": ["MX1.peer.test."]},
        ("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"):
            {"PTR": ["mx1.peer.test.", "v6only.test."]},
    })
    server.servfail.add("broken.test")
    server.start()
    yield server
    server.stop()


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def resolver(server: DnsServer) -> DnsPythonResolver:
    return DnsPythonResolver(server.address, timeout=3)


def test_mx_records_as_given(dns_server: DnsServer) -> None:
    got = run(resolver(dns_server).mx("peer.test"))
    assert isinstance(got, tuple)
    assert sorted(got, key=lambda r: r.preference) == [MxHost(10, "mx1.peer.test"),
                                                       MxHost(20, "mx2.peer.test")]


def test_null_mx(dns_server: DnsServer) -> None:
    """RFC 7505: a single MX "." with preference 0."""
    assert run(resolver(dns_server).mx("null.test")) == NullMx()


def test_no_mx_is_nodata_not_nxdomain(dns_server: DnsServer) -> None:
    assert run(resolver(dns_server).mx("nomx.test")) == NoRecords(nxdomain=False)


def test_nxdomain(dns_server: DnsServer) -> None:
    assert run(resolver(dns_server).mx("nowhere.test")) == NoRecords(nxdomain=True)


def test_servfail_is_tempfail(dns_server: DnsServer) -> None:
    assert isinstance(run(resolver(dns_server).mx("broken.test")), TempFail)


def test_addresses_v4_then_v6(dns_server: DnsServer) -> None:
    res = resolver(dns_server)
    assert run(res.a_aaaa("mx1.peer.test")) == ("127.0.0.1", "::1")
    assert run(res.a_aaaa("v6only.test")) == ("::1",)
    assert run(res.a_aaaa("nowhere.test")) == NoRecords(nxdomain=True)
    assert run(res.a_aaaa("null.test")) == NoRecords(nxdomain=False)


def test_a_and_aaaa_asked_apart(dns_server: DnsServer) -> None:
    res = resolver(dns_server)
    before = len(dns_server.queries)
    assert run(res.a("mx1.peer.test")) == ("127.0.0.1",)
    assert dns_server.queries[before:] == [("mx1.peer.test", "A")]
    assert run(res.aaaa("mx1.peer.test")) == ("::1",)
    assert run(res.a("v6only.test")) == NoRecords(nxdomain=False)
    assert run(res.aaaa("nowhere.test")) == NoRecords(nxdomain=True)
    assert isinstance(run(res.a("broken.test")), TempFail)


def test_ptr_v4_and_v6(dns_server: DnsServer) -> None:
    res = resolver(dns_server)
    assert run(res.ptr("127.0.0.1")) == ("mx1.peer.test",)
    got = run(res.ptr("::1"))
    assert isinstance(got, tuple)
    assert sorted(got) == ["mx1.peer.test", "v6only.test"]
    assert run(res.ptr("127.0.0.9")) == NoRecords(nxdomain=True)
    assert run(res.ptr("not an address")) == NoRecords(nxdomain=True)


def test_txt_joined_and_over_tcp(dns_server: DnsServer) -> None:
    res = resolver(dns_server)
    assert run(res.txt("peer.test")) == ("v=spf1 -all",)
    before = dns_server.tcp_queries
    got = run(res.txt("big.test"))
    assert isinstance(got, tuple)
    assert sorted(got) == LONG_TXT
    assert dns_server.tcp_queries > before  # the UDP answer was truncated


def test_invalid_name_is_nxdomain(dns_server: DnsServer) -> None:
    assert run(resolver(dns_server).mx("a..b")) == NoRecords(nxdomain=True)


def test_unreachable_server_is_tempfail() -> None:
    closed = DnsServer().start()
    address = closed.address
    closed.stop()
    res = DnsPythonResolver(address, timeout=0.5)
    assert isinstance(run(res.mx("peer.test")), TempFail)
