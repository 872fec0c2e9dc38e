"""The one TLS setup for every listener: context factory, self-signed certificates, reload."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

log = logging.getLogger("posthouse.tls")

# TLS 1.2 suites: Mozilla's "intermediate" profile, as RFC 7525 4.2 (now RFC 9325 4.2, the
# recommendations RFC 8314 refers mail to) asks: ECDHE key exchange (forward secrecy, no RSA
# key transport) with an AEAD cipher only, so no CBC (LUCKY13 and the other padding oracles).
# DHE is left out: the context has no DH parameters. Both key types are listed for a
# configured RSA certificate. TLS 1.3 keeps OpenSSL's default suites (all AEAD).
# ``[tls] ciphers`` replaces this list.
INTERMEDIATE_CIPHERS = ":".join((
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
))


# RFC 8737 6.2: the ALPN protocol of the tls-alpn-01 challenge.
ACME_TLS_ALPN = "acme-tls/1"


class TlsSetupError(Exception):
    """The certificate or key cannot be used; the message names the file."""


def generate_self_signed(cert_path: Path, key_path: Path, hostname: str) -> None:
    """Write a new self-signed ECDSA P-256 certificate for hostname (and localhost)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    sans: list[x509.GeneralName] = [x509.DNSName(hostname), x509.DNSName("localhost"),
                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


class TlsContextFactory:
    """Builds the server SSLContext and rebuilds it on reload (SIGHUP).

    Listeners read ``context`` at each handshake, so a reload applies to new connections
    while established ones keep theirs.

    ACME tls-alpn-01 (RFC 8737 3): ``add_alpn_challenge(name, cert, key)`` makes a handshake
    whose SNI is ``name`` use a context of its own that presents the challenge certificate
    and negotiates only ALPN ``acme-tls/1``, until ``remove_alpn_challenge(name)``; only on
    the listeners started with ``challenge_entry()`` (HTTPS: the CA validates on 443), so
    the mail listeners never present a validation certificate. The SNI callback cannot see
    the client's ALPN offer, so while a challenge is pending every HTTPS handshake for that
    name gets it (a validation lasts seconds). Reloads keep them.
    """

    def __init__(self, cert_path: Path, key_path: Path, *, min_version: str = "TLSv1.2",
                 ciphers: str = "") -> None:
        self.cert_path = cert_path
        self.key_path = key_path
        self.min_version = min_version
        self.ciphers = ciphers or INTERMEDIATE_CIPHERS  # the TLS 1.2 suites (OpenSSL syntax)
        self._challenges: dict[str, ssl.SSLContext] = {}  # SNI name -> tls-alpn-01 context
        self.context = self._build()
        self._challenge_entry: ssl.SSLContext | None = None

    def challenge_entry(self) -> ssl.SSLContext:
        """The context a listener that answers tls-alpn-01 challenges (HTTPS) starts its
        handshakes with; the SNI callback tells them apart by it."""
        if self._challenge_entry is None:
            self._challenge_entry = self._build()
        return self._challenge_entry

    def _build(self) -> ssl.SSLContext:
        for p in (self.cert_path, self.key_path):
            if not p.is_file():
                raise TlsSetupError(f"TLS file not found: {p}")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = (
            ssl.TLSVersion.TLSv1_3 if self.min_version == "TLSv1.3" else ssl.TLSVersion.TLSv1_2
        )
        ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
        try:
            ctx.set_ciphers(self.ciphers)
        except ssl.SSLError:
            raise TlsSetupError(f"OpenSSL selects no TLS 1.2 cipher from {self.ciphers!r}"
                                ) from None
        # Implicit-TLS listeners are created with the context current at start-up; this
        # callback hands every handshake the newest one, so a reload applies there too.
        ctx.sni_callback = self._use_current
        try:
            ctx.load_cert_chain(self.cert_path, self.key_path)
        except (ssl.SSLError, OSError) as exc:
            raise TlsSetupError(
                f"cannot load certificate {self.cert_path} with key {self.key_path}: {exc}"
            ) from None
        return ctx

    def _use_current(self, sslobj: ssl.SSLObject, name: str | None,
                     started_with: ssl.SSLContext) -> None:
        if name and self._challenges and started_with is self._challenge_entry:
            challenge = self._challenges.get(name.lower().rstrip("."))
            if challenge is not None:
                sslobj.context = challenge
                return
        if sslobj.context is not self.context:
            sslobj.context = self.context

    def use_files(self, cert_path: Path, key_path: Path) -> bool:
        """Serve another certificate from now on (ACME's); on error keep the current one
        and its files. True if switched."""
        before = (self.cert_path, self.key_path)
        self.cert_path, self.key_path = cert_path, key_path
        if self.reload():
            return True
        self.cert_path, self.key_path = before
        return False

    def add_alpn_challenge(self, name: str, cert_path: Path, key_path: Path) -> None:
        """Answer tls-alpn-01 for ``name`` with this certificate (RFC 8737 3); TlsSetupError
        if it cannot be loaded."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols([ACME_TLS_ALPN])
        try:
            ctx.load_cert_chain(cert_path, key_path)
        except (ssl.SSLError, OSError) as exc:
            raise TlsSetupError(f"cannot load challenge certificate {cert_path}: {exc}"
                                ) from None
        self._challenges[name.lower().rstrip(".")] = ctx

    def remove_alpn_challenge(self, name: str) -> None:
        """Stop answering tls-alpn-01 for ``name`` (nothing if none was pending)."""
        self._challenges.pop(name.lower().rstrip("."), None)

    def reload(self) -> bool:
        """Re-read the files; on error keep the old context and log. True if reloaded."""
        try:
            self.context = self._build()
        except TlsSetupError as exc:
            log.error("tls reload failed, keeping the old certificate: %s", exc)
            return False
        log.info("tls certificate reloaded from %s", self.cert_path)
        return True


def client_context(*, verify: bool, cafile: str = "") -> ssl.SSLContext:
    """A client context for outbound SMTP and HTTPS: verifying (against ``cafile`` when
    given, else the system's anchors), or opportunistic (RFC 7435)."""
    ctx = ssl.create_default_context(cafile=cafile or None)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx
