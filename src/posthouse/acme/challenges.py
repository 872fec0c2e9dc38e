"""Challenge responses: the tls-alpn-01 certificate (RFC 8737 3) and the board of pending
challenges (http-01 tokens, RFC 8555 8.3, which the HTTP listener's route asks for; the
tls-alpn-01 certificates, handed to the TLS factory's HTTPS handshakes).

The board only holds answers; it never opens a socket.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from posthouse.net.tls import TlsContextFactory

ACME_IDENTIFIER_OID = ObjectIdentifier("1.3.6.1.5.5.7.1.31")  # RFC 8737 6.1
HTTP01_PREFIX = "/.well-known/acme-challenge/"  # RFC 8555 8.3
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")  # RFC 8555 8.1: base64url, no padding


def tls_alpn_certificate(
    name: str, key_authorization: str
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The self-signed certificate of RFC 8737 3: one dNSName (the identifier) and the
    critical acmeIdentifier extension holding SHA-256 of the key authorization as a DER
    OCTET STRING."""
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(key_authorization.encode("ascii")).digest()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        # extnValue: Authorization ::= OCTET STRING (SIZE (32)), DER: tag 04, length 32
        .add_extension(
            x509.UnrecognizedExtension(ACME_IDENTIFIER_OID, b"\x04\x20" + digest), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


class ChallengeBoard:
    """The answers to the challenges now pending. tls-alpn-01 certificates go to ``tls``
    (net/tls.py answers HTTPS handshakes naming the identifier with them); ``directory``
    (owner-only) holds a certificate's file only while the factory loads it."""

    def __init__(self, directory: Path, tls: TlsContextFactory) -> None:
        self.directory = directory
        self.tls = tls
        self._http: dict[str, str] = {}
        self._alpn: set[str] = set()

    # http-01 (RFC 8555 8.3)
    def offer_http(self, token: str, key_authorization: str) -> None:
        """Answer GET /.well-known/acme-challenge/<token> with the key authorization."""
        self._http[token] = key_authorization

    def http_response(self, path: str) -> str | None:
        """The body for a request path, or None when it is no pending token."""
        if not path.startswith(HTTP01_PREFIX):
            return None
        token = path[len(HTTP01_PREFIX) :]
        if not _TOKEN.fullmatch(token):
            return None
        return self._http.get(token)

    # tls-alpn-01 (RFC 8737)
    def offer_alpn(self, name: str, key_authorization: str) -> None:
        """Present the validation certificate to an HTTPS handshake naming ``name``."""
        cert, key = tls_alpn_certificate(name, key_authorization)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.directory / f"alpn-{hashlib.sha256(name.encode()).hexdigest()[:16]}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(
                    key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                )
                f.write(cert.public_bytes(serialization.Encoding.PEM))
            self.tls.add_alpn_challenge(name, path, path)
        finally:
            path.unlink()  # loaded (or not): the file is not needed any more
        self._alpn.add(name.lower().rstrip("."))

    def withdraw(self, *, token: str = "", name: str = "") -> None:
        """Forget a challenge once its authorization is settled."""
        self._http.pop(token, None)
        if name:
            self.tls.remove_alpn_challenge(name)
            self._alpn.discard(name.lower().rstrip("."))

    @property
    def pending(self) -> int:
        """How many answers are on the board."""
        return len(self._http) + len(self._alpn)
