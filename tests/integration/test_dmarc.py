"""DMARC (RFC 7489) policy discovery over a loopback DNS server, alignment, pct, and the
Authentication-Results field (RFC 8601) with forgery removal."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from posthouse.dns.dnspython import DnsPythonResolver
from posthouse.mailauth.authresults import authentication_results, authserv_id, strip_forged
from posthouse.mailauth.dkim_verify import DkimResult
from posthouse.mailauth.dmarc import (
    DmarcResult,
    aligned,
    evaluate_dmarc,
    organizational_domain,
    parse_dmarc_record,
)
from tests.support.dnsserver import DnsServer, txt_rdata


def message(author: str) -> bytes:
    return f"From: Someone <{author}>\r\nSubject: x\r\n\r\nbody\r\n".encode()


@pytest.fixture(scope="module")
def zone() -> Iterator[DnsServer]:
    records = {
        "_dmarc.reject.test": "v=DMARC1; p=reject; rua=mailto:d@reject.test",
        "_dmarc.quarantine.test": "v=DMARC1; p=quarantine; sp=reject; adkim=s; aspf=s",
        "_dmarc.none.test": "v=DMARC1; p=none",
        "_dmarc.half.test": "v=DMARC1; p=reject; pct=50",
        "_dmarc.ruaonly.test": "v=DMARC1; p=bogus; rua=mailto:x@ruaonly.test",
        "_dmarc.broken.test": "v=DMARC1; p=bogus",
        "_dmarc.example.co.uk": "v=DMARC1; p=reject",
    }
    server = DnsServer({name: {"TXT": [txt_rdata(text)]} for name, text in records.items()})
    server.records["_dmarc.two.test"] = {"TXT": [txt_rdata("v=DMARC1; p=reject"),
                                                 txt_rdata("v=DMARC1; p=none")]}
    server.records["_dmarc.other.test"] = {"TXT": [txt_rdata("v=spf1 -all"),
                                                   txt_rdata("v=DMARC1; p=reject")]}
    server.servfail.add("_dmarc.flaky.test")
    server.start()
    yield server
    server.stop()


def dmarc(zone: DnsServer, author: str, *, spf: tuple[str, str] = ("none", ""),
          dkim: tuple[tuple[str, str], ...] = (), sample: float = 0.0) -> DmarcResult:
    results = [DkimResult(result, domain) for result, domain in dkim]
    return asyncio.run(evaluate_dmarc(
        message(author), DnsPythonResolver(zone.address, timeout=2), spf_result=spf[0],
        spf_domain=spf[1], dkim=results, sample=lambda: sample))


def test_organizational_domains_from_the_public_suffix_list() -> None:
    assert organizational_domain("a.b.example.co.uk") == "example.co.uk"
    assert organizational_domain("mail.reject.test") == "reject.test"
    assert organizational_domain("co.uk") == "co.uk"
    assert aligned("bounce.reject.test", "reject.test", strict=False)
    assert not aligned("bounce.reject.test", "reject.test", strict=True)
    assert not aligned("example.co.uk", "other.co.uk", strict=False)


def test_aligned_pass_by_spf_or_dkim(zone: DnsServer) -> None:
    by_spf = dmarc(zone, "a@reject.test", spf=("pass", "bounces.reject.test"))
    assert (by_spf.result, by_spf.disposition) == ("pass", "none")
    by_dkim = dmarc(zone, "a@reject.test", dkim=(("fail", "reject.test"),
                                                  ("pass", "reject.test")))
    assert by_dkim.result == "pass"
    assert by_dkim.resinfo() == "dmarc=pass (p=reject dis=none) header.from=reject.test"


def test_unaligned_pass_fails_and_each_policy_applies(zone: DnsServer) -> None:
    unaligned = {"spf": ("pass", "elsewhere.test"), "dkim": (("pass", "elsewhere.test"),)}
    assert dmarc(zone, "a@reject.test", **unaligned).disposition == "reject"  # type: ignore[arg-type]
    assert dmarc(zone, "a@quarantine.test", **unaligned).disposition == "quarantine"  # type: ignore[arg-type]
    none = dmarc(zone, "a@none.test", **unaligned)  # type: ignore[arg-type]
    assert (none.result, none.disposition) == ("fail", "none")


def test_strict_alignment_refuses_subdomains(zone: DnsServer) -> None:
    got = dmarc(zone, "a@quarantine.test", spf=("pass", "mail.quarantine.test"),
                dkim=(("pass", "mail.quarantine.test"),))
    assert (got.result, got.disposition) == ("fail", "quarantine")


def test_subdomain_policy_comes_from_the_organizational_record(zone: DnsServer) -> None:
    got = dmarc(zone, "a@news.quarantine.test")
    assert (got.result, got.policy, got.disposition) == ("fail", "reject", "reject")
    assert got.from_domain == "news.quarantine.test"
    inherited = dmarc(zone, "a@www.example.co.uk")
    assert inherited.disposition == "reject"


def test_pct_samples_the_policy(zone: DnsServer) -> None:
    assert dmarc(zone, "a@half.test", sample=0.2).disposition == "reject"
    assert dmarc(zone, "a@half.test", sample=0.7).disposition == "quarantine"


def test_records_that_do_not_count(zone: DnsServer) -> None:
    assert dmarc(zone, "a@nothing.test").result == "none"
    assert dmarc(zone, "a@two.test").result == "none"  # RFC 7489 6.6.3: several records
    assert dmarc(zone, "a@other.test").disposition == "reject"  # non-DMARC TXT ignored
    assert dmarc(zone, "a@ruaonly.test").policy == "none"
    assert dmarc(zone, "a@broken.test").result == "none"
    assert dmarc(zone, "a@flaky.test").result == "temperror"


def test_several_author_domains_get_the_strictest_outcome(zone: DnsServer) -> None:
    # RFC 7489 6.6.1 leaves it to the receiver: every author domain is evaluated, so a forged
    # From beside one the sender can sign for is not let through.
    def judge(data: bytes, dkim: list[DkimResult]) -> DmarcResult:
        return asyncio.run(evaluate_dmarc(data, DnsPythonResolver(zone.address, timeout=2),
                                          spf_result="none", spf_domain="", dkim=dkim))

    two = b"From: a@reject.test, b@none.test\r\n\r\nx\r\n"
    got = judge(two, [DkimResult("pass", "none.test")])
    assert (got.result, got.from_domain, got.disposition) == ("fail", "reject.test", "reject")
    both = judge(two, [DkimResult("pass", "none.test"), DkimResult("pass", "reject.test")])
    assert both.result == "pass"
    assert judge(b"Subject: no author\r\n\r\nx\r\n", []).result == "permerror"


def test_record_parsing() -> None:
    assert parse_dmarc_record("p=reject; v=DMARC1") is None  # v= must come first
    record = parse_dmarc_record("v=DMARC1;p=Quarantine;pct=300;adkim=s")
    assert record is not None
    assert (record.policy, record.subdomain_policy, record.percent, record.strict_dkim) == (
        "quarantine", "quarantine", 100, True)


def test_authentication_results_field_and_forgery_removal() -> None:
    field = authentication_results("mx.example.test", ["spf=pass smtp.mailfrom=a.test",
                                                       "dmarc=none header.from=a.test"])
    assert field == (b"Authentication-Results: mx.example.test;\r\n\tspf=pass "
                     b"smtp.mailfrom=a.test;\r\n\tdmarc=none header.from=a.test\r\n")
    assert authserv_id(b" (comment (nested)) MX.Example.Test 1; dkim=pass") == "mx.example.test"
    assert authserv_id(b' "mx.example.test"; none') == "mx.example.test"
    forged = (b"Authentication-Results: mx.example.test; dkim=pass\r\n"
              b"Authentication-Results: other.test; spf=fail\r\n"
              b"authentication-results : (x)\r\n MX.EXAMPLE.TEST;\r\n dmarc=pass\r\n"
              b"Subject: hi\r\n\r\nAuthentication-Results: mx.example.test; in body\r\n")
    kept, removed = strip_forged(forged, "mx.example.test")
    assert removed == 2
    assert kept == (b"Authentication-Results: other.test; spf=fail\r\n"
                    b"Subject: hi\r\n\r\nAuthentication-Results: mx.example.test; in body\r\n")
