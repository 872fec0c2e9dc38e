"""The Apple configuration profile: HTTP Basic login over TLS through the one
authenticator (throttled like mail logins), a com.apple.mail.managed payload, signed with
the server's certificate so that ``openssl smime -verify`` accepts it."""

from __future__ import annotations

import base64
import http.client
import logging
import plistlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7

from posthouse.config import tls_paths
from tests.support.server import PASSWORD, ServerThread, make_config

PATH = "/apple/mobileconfig"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(make_config(tmp_path / "data")) as srv:
        srv.add_user("alice@example.test")
        yield srv


def download(srv: ServerThread, user: str | None, password: str = PASSWORD, *,
             tls: bool = True) -> tuple[int, dict[str, str], bytes]:
    if tls:
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", srv.port("https"), context=srv.client_tls(), timeout=30)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port("http"), timeout=30)
    headers = {}
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    conn.request("GET", PATH, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


def test_signed_profile_for_the_user_who_logs_in(server: ServerThread, tmp_path: Path) -> None:
    status, headers, body = download(server, "Alice@example.test")
    assert status == 200
    assert headers["content-type"] == "application/x-apple-aspen-config"
    assert headers["cache-control"] == "no-store"
    signed = tmp_path / "alice.mobileconfig"
    signed.write_bytes(body)
    extracted = tmp_path / "alice.plist"
    # -noverify: the self-signed server certificate is not in openssl's trust store; the
    # signature over the content is still checked.
    proc = subprocess.run(["openssl", "smime", "-verify", "-noverify", "-inform", "DER",
                           "-in", str(signed), "-out", str(extracted)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Verification successful" in proc.stderr
    profile = plistlib.loads(extracted.read_bytes())
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadVersion"] == 1
    (mail,) = profile["PayloadContent"]
    assert mail["PayloadType"] == "com.apple.mail.managed"
    assert mail["EmailAccountType"] == "EmailTypeIMAP"
    assert mail["EmailAddress"] == "alice@example.test"
    assert mail["IncomingMailServerHostName"] == "mx.example.test"
    assert mail["IncomingMailServerPortNumber"] == server.port("imaps")
    assert mail["IncomingMailServerUseSSL"] is True
    assert mail["IncomingMailServerUsername"] == "alice@example.test"
    assert mail["OutgoingMailServerPortNumber"] == server.port("submissions")
    assert mail["OutgoingMailServerUseSSL"] is True
    assert mail["OutgoingMailServerUsername"] == "alice@example.test"
    assert mail["OutgoingPasswordSameAsIncomingPassword"] is True
    # signed by the server's own certificate
    (signer,) = pkcs7.load_der_pkcs7_certificates(body)
    cert_path, _key = tls_paths(server.cfg)
    assert signer == x509.load_pem_x509_certificate(cert_path.read_bytes())
    # the same profile (same UUIDs) on a second download: it replaces, not adds
    again = download(server, "alice@example.test")[2]
    proc = subprocess.run(["openssl", "smime", "-verify", "-noverify", "-inform", "DER"],
                          input=again, capture_output=True, check=True)
    assert plistlib.loads(proc.stdout)["PayloadUUID"] == profile["PayloadUUID"]


def test_refusals(server: ServerThread) -> None:
    status, headers, _ = download(server, None)
    assert status == 401
    assert headers["www-authenticate"].startswith("Basic realm=")
    status, headers, body = download(server, "alice@example.test", "wrong")
    assert status == 401
    assert b"alice" not in body
    assert download(server, "nobody@example.test")[0] == 401
    # never over plain HTTP, not even with the right password
    assert download(server, "alice@example.test", tls=False)[0] == 403


def test_wrong_passwords_count_in_the_mail_login_throttle(
        server: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    """The same throttle as IMAP and SMTP logins (auth/throttle.py) counts these failures
    and delays each answer more (past its max_failures the source is refused)."""
    caplog.set_level(logging.WARNING, logger="posthouse.auth")
    for _ in range(2):
        assert download(server, "alice@example.test", "wrong")[0] == 401
    failures = [r.getMessage() for r in caplog.records if "auth failure" in r.getMessage()]
    assert len(failures) == 2
    assert "account='alice@example.test'" in failures[1]
    assert "source_failures=2" in failures[1]
    assert "delay=1.0s" in failures[1]
    assert download(server, "alice@example.test")[0] == 200  # a right password still works
