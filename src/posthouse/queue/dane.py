"""DANE for SMTP (RFC 7672): matching a server's chain against its TLSA records.

Only DANE-TA(2) and DANE-EE(3) are usable for SMTP (RFC 7672 3.1.3), with selector
Cert(0)/SPKI(1) and matching Full(0)/SHA2-256(1)/SHA2-512(2). Pure: given records and the
chain the peer sent, says whether it matches. Whether TLSA applies at all (the AD bit) is
tls_policy.py's decision.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import Store

from posthouse.dns.resolver import TlsaRecord
from posthouse.net.certs import verify_chain

DANE_TA = 2
DANE_EE = 3


@dataclass(frozen=True, slots=True)
class DaneProblem:
    """Why the chain does not match: an RFC 8460 result type and a text."""

    result_type: str
    text: str


def usable(records: tuple[TlsaRecord, ...]) -> tuple[TlsaRecord, ...]:
    """The records an SMTP client may use (RFC 7672 3.1.3)."""
    return tuple(r for r in records if r.usage in (DANE_TA, DANE_EE)
                 and r.selector in (0, 1) and r.mtype in (0, 1, 2))


def _selected(cert: x509.Certificate, selector: int) -> bytes:
    if selector == 0:
        return cert.public_bytes(serialization.Encoding.DER)
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def _matches(record: TlsaRecord, cert: x509.Certificate) -> bool:
    data = _selected(cert, record.selector)
    if record.mtype == 1:
        data = hashlib.sha256(data).digest()
    elif record.mtype == 2:
        data = hashlib.sha512(data).digest()
    return data == record.data


def check_dane(records: tuple[TlsaRecord, ...], chain: list[bytes], host: str,
               ) -> DaneProblem | None:
    """None when some usable record matches the chain (leaf first) for MX ``host``.

    DANE-EE: the leaf matches; its names and dates are not checked (RFC 7672 3.1.1).
    DANE-TA: a certificate the server sent matches and the leaf chains to it with the
    MX host name in the leaf (RFC 7672 3.1.2, 3.2.3)."""
    if not chain:
        return DaneProblem("validation-failure", "the server sent no certificate")
    try:
        certs = [x509.load_der_x509_certificate(c) for c in chain]
    except ValueError as exc:
        return DaneProblem("validation-failure", f"unreadable certificate: {exc}")
    for record in usable(records):
        if record.usage == DANE_EE and _matches(record, certs[0]):
            return None
        if record.usage == DANE_TA:
            for index, cert in enumerate(certs[1:], start=1):
                if _matches(record, cert) and verify_chain(
                        chain[:index], host, Store([cert])) is None:
                    return None
    return DaneProblem("validation-failure",
                       f"no TLSA record of {host} matches its certificate chain")
