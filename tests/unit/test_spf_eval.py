"""The SPF evaluator against an in-memory zone: RFC 7208 Appendix A, limits and errors."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posthouse.mailauth.spf import (
    SpfLimits,
    SpfResult,
    SpfVerdict,
    check_helo,
    check_host,
    check_mail_from,
)
from tests.support.dns_zone import ZoneResolver
from tests.support.spf_zone import CORPUS_SERVFAIL, appendix_a, corpus_zone
from tests.support.spf_zone import spf as spf_txt

P, F, S, N = SpfResult.PASS, SpfResult.FAIL, SpfResult.SOFTFAIL, SpfResult.NEUTRAL
NONE, TEMP, PERM = SpfResult.NONE, SpfResult.TEMPERROR, SpfResult.PERMERROR
# The hosts of the Appendix A zone, and one outside it.
HOSTS = ["192.0.2.10", "192.0.2.65", "192.0.2.66", "192.0.2.129", "192.0.2.130",
         "192.0.2.131", "192.0.2.140", "192.0.2.143", "192.0.2.200", "10.0.0.1"]


def run_a(record: str, ip: str, sender: str = "user@example.com") -> SpfResult:
    resolver = ZoneResolver(appendix_a(record))
    verdict = asyncio.run(check_host(resolver, ip, "example.com", sender, timestamp=0))
    return verdict.result


def corpus(ip: str, sender: str, helo: str = "mail.good.test", **kw: object) -> SpfVerdict:
    resolver = ZoneResolver(corpus_zone(), CORPUS_SERVFAIL)
    return asyncio.run(check_mail_from(resolver, ip, sender, helo, timestamp=0, **kw))


@pytest.mark.parametrize(("record", "permitted"), [
    # RFC 7208 A.1, each record with the hosts the appendix says it designates
    ("v=spf1 +all", set(HOSTS)),
    ("v=spf1 a -all", {"192.0.2.10"}),
    ("v=spf1 a:example.org -all", set()),
    ("v=spf1 mx -all", {"192.0.2.129", "192.0.2.130"}),
    ("v=spf1 mx:example.org -all", {"192.0.2.140"}),
    ("v=spf1 mx mx:example.org -all", {"192.0.2.129", "192.0.2.130", "192.0.2.140"}),
    ("v=spf1 mx/30 mx:example.org/30 -all",
     {"192.0.2.129", "192.0.2.130", "192.0.2.131", "192.0.2.140", "192.0.2.143"}),
    ("v=spf1 ptr -all", {"192.0.2.10", "192.0.2.65", "192.0.2.66", "192.0.2.129",
                         "192.0.2.130", "192.0.2.140"}),
    ("v=spf1 ip4:192.0.2.128/28 -all",
     {"192.0.2.129", "192.0.2.130", "192.0.2.131", "192.0.2.140", "192.0.2.143"}),
])
def test_appendix_a1_simple_examples(record: str, permitted: set[str]) -> None:
    for ip in HOSTS:
        assert run_a(record, ip) == (P if ip in permitted else F), (record, ip)


def test_appendix_a3_dnsbl_style() -> None:
    record = ("v=spf1 mx include:mobile-users._spf.%{d} include:remote-users._spf.%{d} -all")
    assert run_a(record, "10.0.0.1", "mary@example.com") is P
    assert run_a(record, "10.0.0.1", "fred@example.com") is P
    assert run_a(record, "192.168.15.15", "joel@example.com") is P
    assert run_a(record, "192.168.15.16", "joel@example.com") is P
    assert run_a(record, "192.168.15.17", "joel@example.com") is F
    assert run_a(record, "10.0.0.1", "joel@example.com") is F
    assert run_a(record, "192.0.2.129", "anyone@example.com") is P  # mx


def test_appendix_a4_multiple_requirements() -> None:
    record = "v=spf1 -include:ip4._spf.%{d} -include:ptr._spf.%{d} +all"
    assert run_a(record, "192.0.2.65") is P      # in 192.0.2.0/24 and PTR in example.com
    assert run_a(record, "192.0.2.200") is F     # in the network, no PTR
    assert run_a(record, "10.0.0.1") is F        # outside the network


@pytest.mark.parametrize(("ip", "sender", "want"), [
    ("192.0.2.1", "u@pass-all.test", P),
    ("192.0.2.1", "u@fail-all.test", F),
    ("192.0.2.1", "u@soft.test", S),
    ("192.0.2.1", "u@neutral.test", N),
    ("192.0.2.1", "u@empty.test", N),
    ("192.0.2.1", "u@other-txt.test", NONE),
    ("192.0.2.1", "u@nospf.test", NONE),
    ("192.0.2.1", "u@nowhere.test", NONE),
    ("192.0.2.1", "u@two.test", PERM),           # RFC 7208 4.5: two records
    ("192.0.2.1", "u@syntax.test", PERM),
    ("192.0.2.1", "u@bad-ip.test", PERM),
    ("192.0.2.1", "u@bad-macro.test", PERM),
    ("192.0.2.1", "u@two-redirects.test", PERM),
    ("192.0.2.9", "u@unknown-mod.test", P),       # unknown modifiers are ignored
    ("192.0.2.1", "u@upper.test", P),
    ("::ffff:192.0.2.9", "u@ip4.test", P),        # IPv4-mapped IPv6 is IPv4
    ("2001:db8::1", "u@ip6.test", P),
    ("2001:db9::1", "u@ip6.test", F),
    ("192.0.2.10", "u@a.test", P),
    ("203.0.113.77", "u@a.test", P),              # a:host/24
    ("2001:db8:a::10", "u@a.test", P),            # AAAA for an IPv6 client
    ("2001:db8:b::5", "u@a.test", P),
    ("203.0.113.14", "u@dual.test", P),
    ("203.0.113.16", "u@dual.test", F),
    ("2001:db8:b::ffff", "u@dual.test", P),       # //64
    ("192.0.2.21", "u@mx.test", P),
    ("2001:db8::21", "u@mx.test", P),
    ("192.0.2.22", "u@mx.test", F),
    ("192.0.2.23", "u@mxcidr.test", P),
    ("192.0.2.1", "u@null-mx.test", F),
    ("192.0.2.65", "u@ptr.test", P),
    ("192.0.2.66", "u@ptr.test", F),               # PTR name does not point back
    ("192.0.2.9", "u@include.test", P),
    ("10.0.0.1", "u@include.test", S),
    ("192.0.2.9", "u@include-fail.test", N),       # a fail inside include: no match
    ("192.0.2.9", "u@include-none.test", PERM),    # RFC 7208 5.2: include of no record
    ("192.0.2.9", "u@include-nx.test", PERM),
    ("192.0.2.9", "u@redirect.test", P),
    ("10.0.0.1", "u@redirect.test", F),
    ("192.0.2.9", "u@redirect-none.test", PERM),   # RFC 7208 6.1
    ("192.0.2.9", "u@redirect-all.test", F),       # redirect ignored beside "all"
    ("203.0.113.1", "u@redirect-after.test", P),
    ("10.0.0.1", "u@redirect-after.test", S),
    ("192.0.2.10", "u@exists.test", P),
    ("192.0.2.11", "u@exists.test", F),
    ("10.0.0.1", "alice@macro.test", P),
    ("10.0.0.1", "bob@macro.test", S),
    ("10.0.0.1", "u@helo-macro.test", P),
    ("10.0.0.1", "u@ten.test", P),               # exactly 10 DNS terms
    ("10.0.0.1", "u@many.test", PERM),           # the 11th
    ("10.0.0.1", "u@inc1.test", P),                # 10 nested includes
    ("10.0.0.1", "u@inc0.test", PERM),             # 11
    ("10.0.0.1", "u@two-voids.test", P),
    ("10.0.0.1", "u@voids.test", PERM),            # 3 void lookups
    ("10.0.0.1", "u@mx-many.test", PERM),          # 11 MX names
    ("10.0.0.1", "u@servfail-a.test", TEMP),
    ("10.0.0.1", "u@include-servfail.test", TEMP),
    ("10.0.0.1", "u@broken.test", TEMP),           # the record lookup itself
    ("192.0.2.77", "u@ptr-many.test", F),          # PTR names past the 10th are ignored
    ("192.0.2.65", "u@ptr-macro.test", P),         # %{p}: the validated name
    ("192.0.2.66", "u@ptr-macro.test", F),         # no validated name: "unknown"
    ("10.0.0.1", "u@self-include.test", PERM),     # a loop ends at the term limit
    ("10.0.0.1", "u@self-redirect.test", PERM),
    ("10.0.0.1", "a+b@upper-macro.test", P),       # %{L}: URL-escaped local-part
    ("2001:db8::21", "u@exists6.test", P),         # nibbles; exists asks A even for IPv6
    ("10.0.0.1", "alice@redirect-macro.test", P),
    ("10.0.0.1", "bob@redirect-macro.test", PERM),
    ("192.0.2.10", "u@empty-txt.test", P),
    ("192.0.2.10", "u@spf-prefix.test", F),        # "v=spf1x" is not a record
    ("192.0.2.10", "u@split.test", P),             # strings joined without a space (3.3)
    ("192.0.2.10", "u@nonascii.test", PERM),       # outside macro-literal (7.1)
    ("192.0.2.10", "u@bad-unknown-mod.test", PERM),
    ("10.9.9.9", "u@zero.test", P),
    ("203.0.113.5", "u@dot.test", P),
    ("10.0.0.1", "u@bad-target.test", N),
    ("10.0.0.1", "u@mx-hostless.test", F),         # one mx term, not three void lookups
])
def test_corpus(ip: str, sender: str, want: SpfResult) -> None:
    assert corpus(ip, sender).result is want


def test_malformed_domains_are_none() -> None:
    # RFC 7208 4.3: a malformed or single-label domain: none, without a lookup
    for sender in ("u@a..test", "u@" + "a" * 64 + ".test", "u@localhost", "u@"):
        assert corpus("192.0.2.1", sender).result is NONE
    assert corpus("192.0.2.1", "u@" + "abc." * 63 + "test").result is NONE


def test_null_sender_checks_postmaster_at_helo() -> None:
    got = corpus("192.0.2.9", "", helo="ip4.test")
    assert (got.result, got.sender, got.domain) == (P, "postmaster@ip4.test", "ip4.test")


def test_helo_identity() -> None:
    resolver = ZoneResolver(corpus_zone(), CORPUS_SERVFAIL)
    got = asyncio.run(check_helo(resolver, "192.0.2.9", "ip4.test"))
    assert (got.result, got.identity, got.sender) == (P, "helo", "postmaster@ip4.test")
    assert asyncio.run(check_helo(resolver, "192.0.2.9", "[192.0.2.9]")).result is NONE
    assert asyncio.run(check_helo(resolver, "192.0.2.9", "192.0.2.9")).result is NONE


def test_explanation_for_fail() -> None:
    got = corpus("192.0.2.7", "u@exp.test")
    assert got.result is F
    assert got.explanation == "192.0.2.7 is not one of exp.test's designated mail servers."
    assert got.mechanism == "-all"
    assert corpus("192.0.2.1", "u@exp.test").explanation == ""


def test_explanation_problems_give_none() -> None:
    got = corpus("10.0.0.1", "u@bad-exp.test")
    assert (got.result, got.explanation) == (F, "")


def test_explanation_letters() -> None:
    got = corpus("10.0.0.1", "alice@exp-letters.test")
    assert got.explanation == ("10.0.0.1 alice@exp-letters.test alice exp-letters.test"
                               " exp-letters.test mail.good.test in-addr 1.0.0.10 exp-letters")


def test_redirect_drops_the_redirecting_records_explanation() -> None:
    got = corpus("192.0.2.7", "u@redir-exp.test")
    # RFC 7208 6.2: the target's exp= is used, the original domain's is not
    assert got.explanation == "192.0.2.7 is not one of exp.test's designated mail servers."


def test_problem_is_reported() -> None:
    assert "more than one SPF record" in corpus("192.0.2.1", "u@two.test").problem
    assert "void" in corpus("10.0.0.1", "u@voids.test").problem


def test_limits_are_configurable() -> None:
    assert corpus("10.0.0.1", "u@voids.test", limits=SpfLimits(void_lookups=3)).result is P
    assert corpus("10.0.0.1", "u@ten.test", limits=SpfLimits(dns_terms=9)).result is PERM


def test_total_time_bound_gives_temperror() -> None:
    class Slow(ZoneResolver):
        async def txt(self, name: str):  # type: ignore[no-untyped-def]
            await asyncio.sleep(5)
            return await super().txt(name)

    resolver = Slow(corpus_zone())
    got = asyncio.run(check_host(resolver, "192.0.2.1", "pass-all.test", "u@pass-all.test",
                                 limits=SpfLimits(total_seconds=0.05)))
    assert got.result is TEMP
    assert "longer than" in got.problem


def test_the_eleventh_term_is_never_looked_up() -> None:
    resolver = ZoneResolver(corpus_zone())
    asyncio.run(check_host(resolver, "10.0.0.1", "many.test", "u@many.test"))
    assert ("x11.many.test", "A") not in resolver.queries


def test_a_client_address_that_is_no_address_is_none() -> None:
    got = corpus("not-an-ip", "u@pass-all.test")
    assert (got.result, got.problem) == (NONE, "the client address is not an IP address")


_TERMS = st.sampled_from([
    "a", "mx", "ptr", "all", "-all", "~all", "?all", "+all", "a:a.test", "mx:mx.test/30",
    "a//64", "ip4:192.0.2.0/24", "ip6:2001:db8::/32", "include:ip4.test", "include:self-x.test",
    "exists:%{ir}.list.exists.test", "exists:%{l}.x.test", "redirect=ip4.test",
    "redirect=nowhere.test", "exp=why.exp.test", "foo=bar", "ptr:ptr.test", "a:%{d2}",
    "include:%{o}", "a:x1.many.test", "a:n1.voids.test", "a:broken.test", "mx:mx-many.test",
])


@settings(max_examples=150, deadline=None)
@given(terms=st.lists(_TERMS, max_size=12), ip=st.sampled_from(
    ["192.0.2.10", "10.0.0.1", "2001:db8::21", "::ffff:192.0.2.65"]))
def test_any_record_gives_a_result_and_never_raises(terms: list[str], ip: str) -> None:
    zone = corpus_zone()
    zone["self-x.test"] = {"TXT": spf_txt("v=spf1 " + " ".join(terms))}
    resolver = ZoneResolver(zone, CORPUS_SERVFAIL)
    got = asyncio.run(check_host(resolver, ip, "self-x.test", "u@self-x.test"))
    assert isinstance(got.result, SpfResult)
    assert len([q for q in resolver.queries if q[1] == "TXT"]) <= 12  # limits bound the work
