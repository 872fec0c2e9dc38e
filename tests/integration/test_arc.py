"""ARC chain validation (RFC 8617 5.2) over a loopback DNS server, on chains sealed by
dkimpy's ARC signer, each verdict cross-checked with dkimpy's own ``arc_verify``."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator

import dkim
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from posthouse.dns.dnspython import DnsPythonResolver
from posthouse.mailauth.arc import ArcResult, verify_arc
from posthouse.mailauth.dkim_verify import verify_dkim
from tests.support.dnsserver import DnsServer
from tests.support.mailauth_zone import Zone, dns_server, dnsfunc, rsa_pem, rsa_record

NOW = int(time.time()) - 60  # dkimpy refuses a t= in the future
SENDER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
HOPS = {name: rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for name in ("list.test", "fwd.test", "third.test")}
ZONE: Zone = {"sel._domainkey.sender.test": rsa_record(SENDER)}
ZONE.update({f"arc._domainkey.{name}": rsa_record(key) for name, key in HOPS.items()})
SIGNED = [b"from", b"to", b"subject", b"date", b"message-id"]
ORIGINAL = (b"From: Alice <alice@sender.test>\r\nTo: list@list.test\r\nSubject: minutes\r\n"
            b"Date: Tue, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: <m1@sender.test>\r\n\r\n"
            b"The minutes are attached.\r\n")


@pytest.fixture(scope="module")
def zone() -> Iterator[DnsServer]:
    server = dns_server(ZONE)
    yield server
    server.stop()


def sender_signed() -> bytes:
    field: bytes = dkim.sign(ORIGINAL, b"sel", b"sender.test", rsa_pem(SENDER),
                             include_headers=SIGNED)
    return field + ORIGINAL


def hop(message: bytes, domain: str, cv: str | None, *, modify: bool = False) -> bytes:
    """A forwarder at ``domain``: records what it saw (``arc=<cv>`` when a chain arrived),
    rewrites Subject and appends a footer when it is a list, then seals (RFC 8617 5.1)."""
    seen = f"Authentication-Results: {domain}; dkim=pass header.d=sender.test"
    message = (seen + (f"; arc={cv}" if cv else "") + "\r\n").encode() + message
    if modify:
        message = message.replace(b"Subject: ", b"Subject: [list] ", 1)
        message += b"-- \r\nlist footer\r\n"
    fields: list[bytes] = dkim.arc_sign(message, b"arc", domain.encode(),
                                        rsa_pem(HOPS[domain]), domain.encode(),
                                        include_headers=SIGNED, timestamp=NOW)
    assert len(fields) == 3
    return b"".join(fields) + message


def chain(hops: int) -> bytes:
    """The sender's message through a list (modifies) and then plain forwarders."""
    message = hop(sender_signed(), "list.test", None, modify=True)
    for domain in ("fwd.test", "third.test")[: hops - 1]:
        message = hop(message, domain, "pass")
    return message


def ours(zone: DnsServer, message: bytes) -> ArcResult:
    return asyncio.run(verify_arc(message, DnsPythonResolver(zone.address, timeout=2)))


def dkimpy_verdict(message: bytes) -> str:
    """dkimpy's chain status; its None ("chain terminated", a seal said cv=fail) is a
    fail in RFC 8617 5.2 step 3."""
    cv, _, _ = dkim.arc_verify(message, dnsfunc=dnsfunc(ZONE))
    return "fail" if cv is None else cv.decode()


def check(zone: DnsServer, message: bytes, expected: str) -> ArcResult:
    result = ours(zone, message)
    assert result.result == expected, result
    assert dkimpy_verdict(message) == expected
    return result


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_chains_through_a_list_and_forwarders_pass(zone: DnsServer, hops: int) -> None:
    message = chain(hops)
    result = check(zone, message, "pass")
    assert result.instance == hops
    assert result.oldest_pass == 0
    assert result.chain == ("list.test", "fwd.test", "third.test")[:hops]
    # the list broke the author's DKIM signature: ARC is what vouches for the original
    dkim_results = asyncio.run(verify_dkim(message, DnsPythonResolver(zone.address, timeout=2),
                                           now=NOW))
    assert [r.result for r in dkim_results] == ["fail"]


def test_resinfo_has_the_registered_properties(zone: DnsServer) -> None:
    result = ours(zone, chain(2))
    assert result.resinfo("192.0.2.7") == (
        "arc=pass (i=2; chain list.test, fwd.test) smtp.remote-ip=192.0.2.7 "
        "header.oldest-pass=0")


def test_unsealed_message_has_no_chain(zone: DnsServer) -> None:
    result = check(zone, sender_signed(), "none")
    assert result.resinfo() == "arc=none"


def test_a_modifying_hop_moves_oldest_pass(zone: DnsServer) -> None:
    # hop 2 rewrites the message too: AMS i=1 no longer verifies, AMS i=2 does (5.2 step 6)
    message = hop(hop(sender_signed(), "fwd.test", None), "list.test", "pass", modify=True)
    result = check(zone, message, "pass")
    assert result.oldest_pass == 2


def test_message_modified_after_the_last_seal_fails(zone: DnsServer) -> None:
    body = check(zone, chain(2) + b"appended later\r\n", "fail")
    assert body.reason == "ARC-Message-Signature i=2: body hash did not verify"
    header = chain(2).replace(b"Subject: [list] minutes", b"Subject: [list] changed")
    assert check(zone, header, "fail").reason == (
        "ARC-Message-Signature i=2: signature did not verify")


def test_tampered_seal_fails(zone: DnsServer) -> None:
    message = chain(3)
    # a different claim in the oldest ARC-Authentication-Results breaks every seal over it
    aar = message.replace(b"i=1; list.test;\r\n dkim=pass", b"i=1; list.test;\r\n dkim=fail")
    assert aar != message
    assert check(zone, aar, "fail").reason.startswith("ARC-Seal i=")
    # a changed byte in the newest seal's b=
    seal_b = re.search(rb"ARC-Seal: i=3;.*?\bb=([A-Za-z0-9+/]+)", message, re.S)
    assert seal_b is not None
    start = seal_b.start(1) + 5
    flipped = b"A" if message[start:start + 1] != b"A" else b"B"
    tampered = message[:start] + flipped + message[start + 1:]
    assert check(zone, tampered, "fail").reason == "ARC-Seal i=3: signature did not verify"


def arc_fields(message: bytes, instance: int) -> list[bytes]:
    """The raw ARC fields of one instance (continuation lines included)."""
    head = message.partition(b"\r\n\r\n")[0] + b"\r\n"
    found = re.findall(rb"(?im)^ARC-[A-Za-z-]+:.*\r\n(?:[ \t].*\r\n)*", head)
    return [f for f in found if re.search(rf"(^|[;:\s])i={instance};".encode(), f)]


def test_missing_and_doubled_sets_fail(zone: DnsServer) -> None:
    message = chain(3)
    missing = message
    for f in arc_fields(message, 2):
        missing = missing.replace(f, b"")
    assert check(zone, missing, "fail").reason == "ARC set i=2 is missing"
    aar = [f for f in arc_fields(message, 1) if f.lower().startswith(b"arc-auth")]
    doubled = aar[0] + message
    result = check(zone, doubled, "fail")
    assert result.reason == "two arc-authentication-results fields with i=1"
    no_seal = message
    for f in arc_fields(message, 1):
        if f.startswith(b"ARC-Seal"):
            no_seal = no_seal.replace(f, b"")
    assert check(zone, no_seal, "fail").reason == "ARC set i=1 lacks arc-seal"


def test_a_seal_reporting_cv_fail_ends_the_chain(zone: DnsServer) -> None:
    broken = chain(2) + b"changed in transit\r\n"
    sealed = hop(broken, "third.test", "fail")
    assert re.search(rb"ARC-Seal: i=3; cv=fail", sealed)
    assert check(zone, sealed, "fail").reason == "ARC-Seal i=3 reports cv=fail"


def test_wrong_cv_values_fail(zone: DnsServer) -> None:
    # dkimpy will not seal a first hop claiming cv=pass, so the claim is written by hand
    message = b"Authentication-Results: fwd.test; arc=pass\r\n" + sender_signed()
    with pytest.raises(dkim.ParameterError):
        dkim.arc_sign(message, b"arc", b"fwd.test", rsa_pem(HOPS["fwd.test"]), b"fwd.test",
                      include_headers=SIGNED, timestamp=NOW)
    claimed = hop(sender_signed(), "fwd.test", None).replace(b"cv=none", b"cv=pass", 1)
    assert check(zone, claimed, "fail").reason == "ARC-Seal i=1 has cv=pass"
    later = chain(2).replace(b"i=2; cv=pass", b"i=2; cv=none", 1)
    assert check(zone, later, "fail").reason == "ARC-Seal i=2 has cv=none"


def test_instance_out_of_range_fails(zone: DnsServer) -> None:
    message = chain(1).replace(b"i=1;", b"i=51;")
    result = ours(zone, message)
    assert result.result == "fail"
    assert "valid instance" in result.reason
    assert dkimpy_verdict(message) == "fail"


def test_key_lookup_failure_fails_with_the_reason(zone: DnsServer) -> None:
    zone.servfail.add("arc._domainkey.fwd.test")
    try:
        result = ours(zone, hop(sender_signed(), "fwd.test", None))
    finally:
        zone.servfail.discard("arc._domainkey.fwd.test")
    assert result.result == "fail"
    assert "key lookup" in result.reason
