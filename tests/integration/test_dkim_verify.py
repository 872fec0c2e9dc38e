"""DKIM verification (RFC 6376 6, RFC 8463, RFC 8301) with keys served by a loopback DNS
server over real UDP, signatures made by posthouse's signer and by dkimpy."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from posthouse.dns.dnspython import DnsPythonResolver
from posthouse.mailauth.dkim import DkimKeys, ed25519_public_record, sign
from posthouse.mailauth.dkim_verify import DkimResult, verify_dkim
from tests.support.dnsserver import DnsServer, txt_rdata

NOW = 1_900_000_000
MESSAGE = (b"From: Alice <alice@sender.test>\r\nTo: bob@example.test\r\n"
           b"Subject: quarterly  figures\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n"
           b"Message-ID: <q1@sender.test>\r\n\r\nHello Bob,\r\n\r\nthe figures.  \r\n\r\n\r\n")
RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED = ed25519.Ed25519PrivateKey.generate()


def rsa_record(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def rsa_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def zone() -> Iterator[DnsServer]:
    server = DnsServer({
        "sel._domainkey.sender.test": {"TXT": [txt_rdata(rsa_record(RSA))]},
        "sel-ed25519._domainkey.sender.test": {"TXT": [txt_rdata(ed25519_public_record(ED))]},
        "revoked._domainkey.sender.test": {"TXT": [txt_rdata("v=DKIM1; k=rsa; p=")]},
        "strict._domainkey.sender.test": {"TXT": [txt_rdata(rsa_record(RSA) + "; t=s")]},
        "web._domainkey.sender.test": {"TXT": [txt_rdata(rsa_record(RSA) + "; s=web")]},
        "sha1only._domainkey.sender.test": {"TXT": [txt_rdata(rsa_record(RSA) + "; h=sha1")]},
        "edtype._domainkey.sender.test": {"TXT": [txt_rdata("v=DKIM1; k=ed25519; p="
                                                              + rsa_record(RSA).split("p=")[1])]},
    }).start()
    server.servfail.add("down._domainkey.sender.test")
    yield server
    server.stop()


def verify(zone: DnsServer, message: bytes, now: int = NOW) -> tuple[DkimResult, ...]:
    return asyncio.run(verify_dkim(message, DnsPythonResolver(zone.address, timeout=2), now=now))


def posthouse_signed(message: bytes = MESSAGE) -> bytes:
    return sign(message, keys=DkimKeys("sel", RSA, ED), domain="sender.test", timestamp=NOW - 60)


def dkimpy_signed(message: bytes = MESSAGE, selector: bytes = b"sel", **kw: object) -> bytes:
    field: bytes = dkim.sign(message, selector, b"sender.test", rsa_pem(RSA), **kw)  # type: ignore[arg-type]
    return field + message


def test_rsa_and_ed25519_signatures_of_posthouse_pass(zone: DnsServer) -> None:
    results = verify(zone, posthouse_signed())
    assert [(r.result, r.algorithm, r.selector) for r in results] == [
        ("pass", "rsa-sha256", "sel"), ("pass", "ed25519-sha256", "sel-ed25519")]
    assert results[0].resinfo().startswith("dkim=pass header.d=sender.test header.s=sel "
                                           "header.a=rsa-sha256 header.b=")


@pytest.mark.parametrize("canon", [(b"simple", b"simple"), (b"relaxed", b"relaxed"),
                                   (b"relaxed", b"simple"), (b"simple", b"relaxed")])
def test_every_canonicalization_of_dkimpy_passes(zone: DnsServer,
                                                 canon: tuple[bytes, bytes]) -> None:
    assert [r.result for r in verify(zone, dkimpy_signed(canonicalize=canon))] == ["pass"]


def test_relaxed_survives_whitespace_and_case_changes_simple_does_not(zone: DnsServer) -> None:
    def mangle(signed: bytes) -> bytes:
        head, _, body = signed.partition(b"\r\n\r\n")
        head = head.replace(b"Subject: quarterly  figures", b"subject:   quarterly figures")
        return head + b"\r\n\r\n" + body.replace(b"the figures.  ", b"the  figures.")

    relaxed = dkimpy_signed(canonicalize=(b"relaxed", b"relaxed"))
    simple = dkimpy_signed(canonicalize=(b"simple", b"simple"))
    assert verify(zone, mangle(relaxed))[0].result == "pass"
    assert verify(zone, mangle(simple))[0].result == "fail"


def test_modified_body_and_modified_header_fail(zone: DnsServer) -> None:
    signed = posthouse_signed()
    body = verify(zone, signed.replace(b"the figures.", b"the figurez."))
    assert {(r.result, r.reason) for r in body} == {("fail", "body hash did not verify")}
    header = verify(zone, signed.replace(b"Subject: quarterly", b"Subject: Quarterly"))
    assert {(r.result, r.reason) for r in header} == {("fail", "signature did not verify")}


def test_a_field_added_after_signing_counts_from_the_bottom(zone: DnsServer) -> None:
    # RFC 6376 5.4.2: instances are taken bottom up, so a second Subject added on top of the
    # signed header is ignored, one added below the signed one breaks the signature.
    signed = posthouse_signed()
    on_top = b"Subject: injected\r\n" + signed
    assert [r.result for r in verify(zone, on_top)] == ["pass", "pass"]
    head, _, body = signed.partition(b"\r\n\r\n")
    below = head + b"\r\nSubject: injected" + b"\r\n\r\n" + body
    assert [r.result for r in verify(zone, below)] == ["fail", "fail"]


def test_body_length_limit_allows_appended_text(zone: DnsServer) -> None:
    signed = dkimpy_signed(length=True, canonicalize=(b"relaxed", b"simple"))
    assert verify(zone, signed + b"-- \r\nappended by a list\r\n")[0].result == "pass"


def test_key_problems(zone: DnsServer) -> None:
    cases = {b"missing": ("permerror", "no key for signature"),
             b"revoked": ("permerror", "key revoked"),
             b"down": ("temperror", None), b"web": ("permerror", "key not for email"),
             b"sha1only": ("permerror", "key does not allow sha256"),
             b"edtype": ("permerror", "key type ed25519 does not match a=")}
    for selector, (result, reason) in cases.items():
        got = verify(zone, dkimpy_signed(selector=selector))
        assert got[0].result == result, (selector, got)
        if reason:
            assert got[0].reason == reason


def test_strict_key_requires_identity_in_d_exactly(zone: DnsServer) -> None:
    sub = dkimpy_signed(selector=b"strict", identity=b"alice@mail.sender.test")
    assert verify(zone, sub)[0].result == "permerror"
    exact = dkimpy_signed(selector=b"strict", identity=b"alice@sender.test")
    assert verify(zone, exact)[0].result == "pass"


def test_rsa_sha1_is_never_valid(zone: DnsServer) -> None:
    got = verify(zone, dkimpy_signed(signature_algorithm=b"rsa-sha1"))
    assert (got[0].result, got[0].reason) == ("permerror", "rsa-sha1 is not accepted (RFC 8301)")


def test_expired_signature_fails(zone: DnsServer) -> None:
    field = (b"DKIM-Signature: v=1; a=rsa-sha256; d=sender.test; s=sel; t=100; x=200; "
             b"h=from; bh=AAAA; b=AAAA\r\n")
    assert verify(zone, field + MESSAGE)[0].reason == "signature expired"


def test_malformed_signatures(zone: DnsServer) -> None:
    cases = {
        b"v=1; a=rsa-sha256; d=sender.test; s=sel; h=from; bh=AAAA": "neutral",  # no b=
        b"v=1; v=1; a=rsa-sha256": "neutral",  # a tag twice
        b"v=2; a=rsa-sha256; d=sender.test; s=sel; h=from; bh=AAAA; b=AAAA": "neutral",
        b"v=1; a=rsa-sha256; d=sender.test; s=sel; h=to; bh=AAAA; b=AAAA": "permerror",
        b"v=1; a=rsa-sha256; d=sender.test; s=sel; h=from; bh=A!A; b=AAAA": "neutral",
        b"v=1; a=rsa-sha256; d=sender.test; s=sel; h=from; i=x@other.test; bh=AAAA; b=AAAA":
            "permerror",
        b"v=1; a=rsa-md5; d=sender.test; s=sel; h=from; bh=AAAA; b=AAAA": "permerror",
        b"garbage": "neutral",
    }
    for value, result in cases.items():
        got = verify(zone, b"DKIM-Signature: " + value + b"\r\n" + MESSAGE)
        assert got[0].result == result, (value, got)


def test_unsigned_message_has_no_results(zone: DnsServer) -> None:
    assert verify(zone, MESSAGE) == ()


def test_one_lookup_per_key_however_many_signatures(zone: DnsServer) -> None:
    twice = dkimpy_signed(dkimpy_signed())
    zone.queries.clear()
    assert [r.result for r in verify(zone, twice)] == ["pass", "pass"]
    assert zone.queries.count(("sel._domainkey.sender.test", "TXT")) == 1
