"""An Apple configuration profile (.mobileconfig) for the user who logs in.

``GET /apple/mobileconfig`` over HTTPS with HTTP Basic credentials (RFC 7617) checked by the
one Authenticator (argon2, the login cache and the per-IP/per-account throttle of mail
logins); over plain HTTP it is refused before any credentials are asked for. The profile is
a property list with one ``com.apple.mail.managed`` payload: IMAP on the implicit-TLS port,
SMTP on 465 (implicit TLS; 587 with STARTTLS when 465 is off), the whole address as user
name, the same password for both. Its UUIDs derive from host and address, so downloading it
again replaces the installed profile instead of adding one.

The profile is signed with the server's TLS certificate and key (CMS SignedData with the
content inside, RFC 5652), as iOS and macOS show a signed profile as verified when the
certificate chains to a trusted root. Read at each download, so a renewed certificate is
used at once. ``application/x-apple-aspen-config`` makes the devices offer to install it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import plistlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from posthouse.auth.authenticator import Authenticator
from posthouse.auth.scheduler import HashBusy
from posthouse.web.client_ports import ClientPorts, MailServer
from posthouse.web.messages import HttpRequest, HttpResponse
from posthouse.web.routes import HttpRoutes

log = logging.getLogger("posthouse.http")

PROFILE_PATH = "/apple/mobileconfig"
CONTENT_TYPE = "application/x-apple-aspen-config"
REALM = 'Basic realm="posthouse mail profile", charset="UTF-8"'


def register(routes: HttpRoutes, server: MailServer, authenticator: Authenticator,
             tls_files: Callable[[], tuple[Path, Path]]) -> None:
    """Add the profile download; ``tls_files`` names the certificate and key in use at each
    download (ACME replaces them while the server runs)."""

    async def page(request: HttpRequest) -> HttpResponse:
        if not request.is_tls:
            return HttpResponse.error(403, "use https")
        credentials = basic_credentials(request.header("authorization"))
        if credentials is None:
            return HttpResponse.error(401).with_header("WWW-Authenticate", REALM)
        try:
            principal = await authenticator.authenticate(*credentials, remote_ip=request.peer)
        except HashBusy:
            return HttpResponse.error(503).with_header("Retry-After", "5")
        if principal is None:
            return HttpResponse.error(401).with_header("WWW-Authenticate", REALM)
        profile = profile_plist(principal.address, server.hostname, server.ports())
        signed = await asyncio.to_thread(sign, profile, *tls_files())  # file reads, signing
        name = principal.address.replace("@", "-at-")
        return HttpResponse(200, signed, [
            ("Content-Type", CONTENT_TYPE), ("Cache-Control", "no-store"),
            ("Content-Disposition", f'attachment; filename="{name}.mobileconfig"')])

    routes.add("GET", PROFILE_PATH, page)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic`` field (RFC 7617 2; UTF-8), or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        text = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = text.partition(":")
    if not colon or not user:
        return None
    return user, password


def profile_plist(address: str, hostname: str, ports: ClientPorts) -> bytes:
    """The configuration profile (an XML property list) for ``address``."""
    ident = ".".join(reversed(hostname.split(".")))
    # Apple Mail's "use SSL" means implicit TLS on 465 and STARTTLS on 587.
    smtp_port = ports.submissions or ports.submission or 465
    mail: dict[str, Any] = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{ident}.mail.{address}",
        "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"mail:{address}@{hostname}")),
        "PayloadDisplayName": f"Mail: {address}",
        "EmailAccountDescription": address,
        "EmailAccountType": "EmailTypeIMAP",
        "EmailAddress": address,
        "IncomingMailServerHostName": hostname,
        "IncomingMailServerPortNumber": ports.imaps or 993,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerUsername": address,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerHostName": hostname,
        "OutgoingMailServerPortNumber": smtp_port,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerUsername": address,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{ident}.profile.{address}",
        "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"profile:{address}@{hostname}")),
        "PayloadDisplayName": f"{address} on {hostname}",
        "PayloadDescription": f"The mail account {address}",
        "PayloadOrganization": hostname,
        "PayloadRemovalDisallowed": False,
        "PayloadContent": [mail],
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML)


def sign(data: bytes, cert_path: Path, key_path: Path) -> bytes:
    """``data`` in a DER CMS SignedData (content included), signed with SHA-256 by the
    certificate's key, the rest of the chain file attached."""
    chain = x509.load_pem_x509_certificates(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise ValueError(f"{key_path}: only RSA and EC keys can sign a profile")
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(
        chain[0], key, hashes.SHA256())
    for cert in chain[1:]:
        builder = builder.add_certificate(cert)
    return builder.sign(serialization.Encoding.DER, [])
