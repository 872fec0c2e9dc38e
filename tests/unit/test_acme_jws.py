"""ACME's pure parts: JWS with ES256 (RFC 8555 6.2, RFC 7515, RFC 7518 3.4), the JWK
thumbprint (RFC 7638), key authorizations (RFC 8555 8.1), the tls-alpn-01 certificate
(RFC 8737 3), Retry-After, backoff and when to renew."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import cast

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given
from hypothesis import strategies as st

from posthouse.acme.challenges import ACME_IDENTIFIER_OID, ChallengeBoard, tls_alpn_certificate
from posthouse.acme.client import retry_after
from posthouse.acme.jws import AccountKey, b64url, b64url_decode, key_authorization, signed_request
from posthouse.acme.manager import backoff, make_csr, renewal_due
from posthouse.config import ConfigError, config_from_dict
from posthouse.net.tls import TlsContextFactory, generate_self_signed

# RFC 7517 A.1: an EC P-256 public key (the private part is not needed for the thumbprint).
RFC7517_X = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4"
RFC7517_Y = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"


def rfc7517_key() -> AccountKey:
    """An AccountKey whose public key is the RFC 7517 A.1 example (a stand-in private part:
    only the public numbers are read)."""

    class Public(AccountKey):
        def jwk(self) -> dict[str, str]:
            return {"kty": "EC", "crv": "P-256", "x": RFC7517_X, "y": RFC7517_Y, "kid": "1"}

    return Public(ec.generate_private_key(ec.SECP256R1()))


def test_b64url_has_no_padding_and_round_trips() -> None:
    for data in (b"", b"a", b"ab", b"abc", bytes(range(256))):
        text = b64url(data)
        assert "=" not in text
        assert "+" not in text
        assert "/" not in text
        assert b64url_decode(text) == data


def test_thumbprint_hashes_the_required_members_in_order() -> None:
    # RFC 7638 3.2/3.3: only crv, kty, x, y (no "kid"), lexicographic, no whitespace.
    canonical = f'{{"crv":"P-256","kty":"EC","x":"{RFC7517_X}","y":"{RFC7517_Y}"}}'
    expected = b64url(hashlib.sha256(canonical.encode()).digest())
    assert rfc7517_key().thumbprint() == expected


def test_jwk_coordinates_are_32_octets() -> None:
    for _ in range(20):  # leading zero bytes must be kept (RFC 7518 6.2.1.2)
        jwk = AccountKey.generate().jwk()
        assert len(b64url_decode(jwk["x"])) == 32
        assert len(b64url_decode(jwk["y"])) == 32


def _verify(key: AccountKey, body: dict[str, str]) -> None:
    signature = b64url_decode(body["signature"])
    assert len(signature) == 64  # R || S, not DER (RFC 7518 3.4)
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    signed = f"{body['protected']}.{body['payload']}".encode()
    key.key.public_key().verify(der, signed, ec.ECDSA(hashes.SHA256()))


def test_signed_request_with_jwk_for_new_account() -> None:
    key = AccountKey.generate()
    body = signed_request(
        key,
        url="https://ca.test/new-acct",
        nonce="n1",
        payload={"termsOfServiceAgreed": True},
        kid=None,
    )
    protected = json.loads(b64url_decode(body["protected"]))
    assert protected == {
        "alg": "ES256",
        "nonce": "n1",
        "url": "https://ca.test/new-acct",
        "jwk": key.jwk(),
    }
    assert json.loads(b64url_decode(body["payload"])) == {"termsOfServiceAgreed": True}
    _verify(key, body)


def test_signed_request_with_kid_and_post_as_get() -> None:
    key = AccountKey.generate()
    body = signed_request(
        key, url="https://ca.test/order/1", nonce="n2", payload=None, kid="https://ca.test/acct/7"
    )
    protected = json.loads(b64url_decode(body["protected"]))
    assert protected["kid"] == "https://ca.test/acct/7"
    assert "jwk" not in protected
    assert body["payload"] == ""  # RFC 8555 6.3: POST-as-GET
    _verify(key, body)


def test_a_changed_payload_breaks_the_signature() -> None:
    key = AccountKey.generate()
    body = signed_request(key, url="https://ca.test/x", nonce="n", payload={"a": 1}, kid="k")
    body["payload"] = b64url(b'{"a":2}')
    with pytest.raises(InvalidSignature):
        _verify(key, body)


def test_key_authorization_is_token_dot_thumbprint() -> None:
    key = AccountKey.generate()
    assert key_authorization("tok_-1", key) == f"tok_-1.{key.thumbprint()}"


def test_account_key_round_trips_through_pem_and_refuses_other_curves() -> None:
    key = AccountKey.generate()
    assert AccountKey.from_pem(key.to_pem()).jwk() == key.jwk()
    with pytest.raises(ValueError, match="P-256"):
        AccountKey(ec.generate_private_key(ec.SECP384R1()))


def test_tls_alpn_certificate_carries_the_critical_acme_identifier() -> None:
    keyauth = "token.thumb"
    cert, key = tls_alpn_certificate("mx.example.test", keyauth)
    ext = cert.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    assert ext.critical  # RFC 8737 3: MUST be critical
    assert ext.value.public_bytes() == b"\x04\x20" + hashlib.sha256(keyauth.encode()).digest()
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mx.example.test"]  # exactly one name
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()


def test_board_answers_pending_tokens_only(tmp_path: Path) -> None:
    generate_self_signed(tmp_path / "c.pem", tmp_path / "k.pem", "mx.example.test")
    board = ChallengeBoard(
        tmp_path / "ch", TlsContextFactory(tmp_path / "c.pem", tmp_path / "k.pem")
    )
    board.offer_http("abc_-DEF", "abc_-DEF.thumb")
    assert board.http_response("/.well-known/acme-challenge/abc_-DEF") == "abc_-DEF.thumb"
    for path in (
        "/.well-known/acme-challenge/other",
        "/.well-known/acme-challenge/../x",
        "/.well-known/acme-challenge/abc_-DEF/",
        "/abc_-DEF",
        "/.well-known/acme-challenge/",
    ):
        assert board.http_response(path) is None
    board.offer_alpn("MX.Example.Test", "t.k")
    assert board.pending == 2
    assert list((tmp_path / "ch").iterdir()) == []  # the key file is gone once loaded
    board.withdraw(token="abc_-DEF", name="mx.example.test")
    assert board.pending == 0


def test_retry_after() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert retry_after("3") == 3.0
    assert retry_after("86400") == 60.0  # capped
    assert retry_after("Thu, 01 Jan 2026 00:00:10 GMT", now) == 10.0  # an HTTP-date
    assert retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now) == 0.0  # in the past
    assert retry_after(None) == retry_after("soon") == 1.0


def test_backoff_doubles_up_to_the_ceiling() -> None:
    assert [backoff(n, 300, 3600) for n in (1, 2, 3, 4, 5, 100)] == [
        300,
        600,
        1200,
        2400,
        3600,
        3600,
    ]


class FixedClock:
    def __init__(self, when: dt.datetime) -> None:
        self.when = when

    def now(self) -> dt.datetime:
        return self.when

    def monotonic(self) -> float:
        return 0.0


def _cert(names: list[str], days: int) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def test_renewal_due() -> None:
    clock = FixedClock(dt.datetime.now(dt.UTC))
    names = ["mx.a.test", "autoconfig.a.test"]
    assert renewal_due(None, names, clock, 30) == "no certificate yet"
    assert renewal_due(_cert(names, 90), names, clock, 30) == ""
    assert renewal_due(_cert(names, 20), names, clock, 30).startswith("expires in")
    assert "autoconfig.a.test" in renewal_due(_cert(["mx.a.test"], 90), names, clock, 30)
    clock.when += dt.timedelta(days=61)
    assert renewal_due(_cert(names, 90), names, clock, 30).startswith("expires in")


def test_csr_names_every_name() -> None:
    _key, der = make_csr(["mx.a.test", "mta-sts.a.test"])
    csr = x509.load_der_x509_csr(der)
    assert csr.is_signature_valid
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mx.a.test", "mta-sts.a.test"]


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        ({"acme_directory": "http://ca.test/dir"}, "https://"),
        ({"acme_challenges": ["dns-01"]}, "acme_challenges"),
        ({"acme_challenges": []}, "acme_challenges"),
        ({"acme_challenges": ["http-01", "http-01"]}, "acme_challenges"),
        ({"acme_renew_days": 0}, "acme_renew_days"),
        ({"acme_email": "not an address"}, "acme_email"),
        ({"acme": True, "cert": "/c.pem", "key": "/k.pem"}, "leave 'cert'"),
        ({"acme_ca_file": "/nonexistent/ca.pem"}, "acme_ca_file"),
        ({"acme": "yes"}, "true or false"),
    ],
)
def test_config_refuses_bad_acme_settings(tls: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"tls": tls})


def test_config_accepts_acme() -> None:
    cfg = config_from_dict(
        {
            "tls": {
                "acme": True,
                "acme_email": "postmaster@a.test",
                "acme_challenges": ["http-01"],
                "acme_renew_days": 20,
            }
        }
    )
    assert cfg.tls.acme
    assert cfg.tls.acme_challenges == ["http-01"]


@given(st.one_of(st.none(), st.text(max_size=60)))
def test_retry_after_never_raises_and_stays_bounded(value: str | None) -> None:
    # A CA's Retry-After (RFC 9110 10.2.3) is input: anything becomes a wait in [0, 60].
    assert 0.0 <= retry_after(value) <= 60.0


@given(st.text(max_size=80))
def test_http_response_answers_only_a_pending_token(path: str) -> None:
    board = ChallengeBoard(Path("/nonexistent"), cast(TlsContextFactory, None))
    board.offer_http("tok", "tok.thumb")
    answer = board.http_response(path)
    assert answer is None or path == "/.well-known/acme-challenge/tok"
