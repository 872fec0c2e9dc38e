"""DANE TLSA matching (RFC 7672 3.1, RFC 6698 2.1): usages, selectors, matching types."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from posthouse.dns.resolver import TlsaRecord
from posthouse.queue.dane import check_dane, usable
from tests.support.test_ca import TestCa


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def _record(usage: int, selector: int, mtype: int, cert: x509.Certificate) -> TlsaRecord:
    data = _der(cert) if selector == 0 else _spki(cert)
    digest = {0: data, 1: hashlib.sha256(data).digest(), 2: hashlib.sha512(data).digest()}
    return TlsaRecord(usage, selector, mtype, digest[mtype])


@pytest.fixture
def ca(tmp_path: Path) -> TestCa:
    return TestCa(tmp_path)


@pytest.mark.parametrize("selector", [0, 1])
@pytest.mark.parametrize("mtype", [0, 1, 2])
def test_dane_ee_every_selector_and_matching_type(ca: TestCa, selector: int,
                                                  mtype: int) -> None:
    _, _, leaf = ca.issue("mx.peer.test")
    chain = [_der(leaf), _der(ca.cert)]
    assert check_dane((_record(3, selector, mtype, leaf),), chain, "mx.peer.test") is None
    other = ca.issue("mx.peer.test")[2]
    problem = check_dane((_record(3, selector, mtype, other),), chain, "mx.peer.test")
    assert problem is not None
    assert problem.result_type == "validation-failure"


def test_dane_ee_ignores_name_and_expiry(ca: TestCa) -> None:
    _, _, leaf = ca.issue("elsewhere.test", expired=True)
    assert check_dane((_record(3, 1, 1, leaf),), [_der(leaf)], "mx.peer.test") is None


@pytest.mark.parametrize("selector", [0, 1])
def test_dane_ta_needs_the_anchor_in_the_chain_and_the_name(ca: TestCa,
                                                            selector: int) -> None:
    _, _, leaf = ca.issue("mx.peer.test")
    record = _record(2, selector, 1, ca.cert)
    assert check_dane((record,), [_der(leaf), _der(ca.cert)], "mx.peer.test") is None
    assert check_dane((record,), [_der(leaf)], "mx.peer.test") is not None  # TA not sent
    assert check_dane((record,), [_der(leaf), _der(ca.cert)], "other.test") is not None


def test_pkix_usages_are_unusable_for_smtp(ca: TestCa) -> None:
    _, _, leaf = ca.issue("mx.peer.test")
    records = (_record(0, 1, 1, ca.cert), _record(1, 1, 1, leaf), TlsaRecord(3, 2, 1, b"x"),
               TlsaRecord(3, 1, 3, b"x"))
    assert usable(records) == ()
    assert check_dane(records, [_der(leaf), _der(ca.cert)], "mx.peer.test") is not None


def test_no_certificate(ca: TestCa) -> None:
    assert check_dane((_record(3, 1, 1, ca.cert),), [], "mx.peer.test") is not None
