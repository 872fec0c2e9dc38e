"""Checking a peer's certificate chain after the handshake: PKIX path and host name.

Outbound STARTTLS handshakes that a policy (MTA-STS, DANE, REQUIRETLS) may need to judge are
made without verification; the chain the peer sent is then judged here, so the one handshake
serves every policy. Never decides what a failure means for delivery: callers do.
"""

from __future__ import annotations

import datetime as dt
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

_ENCODING_DER = 2  # _ssl.ENCODING_DER, the format argument of Certificate.public_bytes

# RFC 8460 4.3: the result types of certificate problems.
HOST_MISMATCH = "certificate-host-mismatch"
EXPIRED = "certificate-expired"
NOT_TRUSTED = "certificate-not-trusted"


@dataclass(frozen=True, slots=True)
class CertProblem:
    """Why a chain does not verify: an RFC 8460 result type and a text for people."""

    result_type: str
    text: str


def peer_chain(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> list[bytes]:
    """The DER certificates the peer sent, leaf first (empty when there are none)."""
    if ssl_object is None:
        return []
    getter = getattr(ssl_object, "get_unverified_chain", None)  # public from Python 3.13
    if getter is None:
        inner = getattr(ssl_object, "_sslobj", None)
        getter = getattr(inner, "get_unverified_chain", None)
    if getter is not None:
        chain = getter() or []
        return [c if isinstance(c, bytes) else c.public_bytes(_ENCODING_DER) for c in chain]
    leaf = ssl_object.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def load_trust_store(ca_file: str = "") -> Store | None:
    """The trust anchors: ``ca_file`` (PEM), else OpenSSL's default bundle; None if none."""
    path = ca_file or ssl.get_default_verify_paths().cafile or ""
    try:
        with warnings.catch_warnings():  # old anchors with odd serials still anchor
            warnings.simplefilter("ignore")
            certs = x509.load_pem_x509_certificates(Path(path).read_bytes()) if path else []
    except (OSError, ValueError):
        return None
    return Store(certs) if certs else None


def name_matches(pattern: str, host: str) -> bool:
    """A DNS name against a certificate name; "*" only as the whole leftmost label (RFC 6125
    6.4.3, the form RFC 8461 4.1 also uses for MX patterns)."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        first, dot, rest = host.partition(".")
        return bool(first) and bool(dot) and rest == pattern[2:]
    return pattern == host


def _dns_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(san.value.get_values_for_type(x509.DNSName))


def verify_chain(chain: list[bytes], host: str, store: Store | None,
                 now: dt.datetime | None = None) -> CertProblem | None:
    """None when ``chain`` (leaf first) leads to an anchor of ``store`` and the leaf is for
    ``host``; else the problem."""
    if not chain:
        return CertProblem(NOT_TRUSTED, "no certificate")
    if store is None:
        return CertProblem(NOT_TRUSTED, "no trust anchors configured")
    try:
        certs = [x509.load_der_x509_certificate(c) for c in chain]
    except ValueError as exc:
        return CertProblem(NOT_TRUSTED, f"unreadable certificate: {exc}")
    leaf = certs[0]
    when = now or dt.datetime.now(dt.UTC)
    if not any(name_matches(n, host) for n in _dns_names(leaf)):
        return CertProblem(HOST_MISMATCH, f"certificate is not for {host}")
    if not leaf.not_valid_before_utc <= when <= leaf.not_valid_after_utc:
        return CertProblem(EXPIRED, "certificate outside its validity period")
    builder = PolicyBuilder().store(store).time(when)
    try:
        builder.build_server_verifier(x509.DNSName(host)).verify(leaf, certs[1:])
    except (VerificationError, ValueError) as exc:
        return CertProblem(NOT_TRUSTED, f"certificate does not verify: {exc}")
    return None

