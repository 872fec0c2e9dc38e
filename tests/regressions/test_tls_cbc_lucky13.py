"""CBC cipher suites in TLS 1.2 (LUCKY13 and the other CBC padding oracles; issue 12, defect 7).

Every listener shares one server context (net/tls.py). TLS 1.2 offers only the AEAD suites of
Mozilla's "intermediate" profile: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305
(RFC 7525 4.2, now RFC 9325 4.2, which RFC 8314 refers mail to). A TLS 1.2 client offering
only CBC suites gets no handshake; one offering AEAD suites gets one of them. ``[tls] ciphers``
changes the TLS 1.2 list; a string OpenSSL selects nothing from is one config error line.
"""

from __future__ import annotations

import dataclasses
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from posthouse.config import ConfigError, TlsConfig, config_from_dict
from tests.support.server import ServerThread, make_config

# Every CBC suite with a forward-secret key exchange a TLS 1.2 client may offer, for both key
# types (the self-signed certificate is ECDSA): before the fix, the server took the ECDSA ones.
CBC_ONLY = ("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:"
            "ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384:"
            "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA")
AEAD = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        "ECDHE-ECDSA-CHACHA20-POLY1305")
GREETING = {"imaps": b"* OK", "submissions": b"220 ", "pop3s": b"+OK"}


def tls12_client(server: ServerThread, ciphers: str) -> ssl.SSLContext:
    """A client that speaks TLS 1.2 only, with exactly these suites."""
    ctx = server.client_tls()
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers)
    return ctx


def handshake(server: ServerThread, listener: str, ctx: ssl.SSLContext) -> tuple[str, str]:
    """TLS version and suite after a handshake on ``listener``, once its greeting arrived."""
    with socket.create_connection(("127.0.0.1", server.port(listener)), timeout=10) as raw, \
            ctx.wrap_socket(raw) as tls:
        assert tls.recv(100).startswith(GREETING[listener])
        version, cipher = tls.version(), tls.cipher()
        assert version is not None
        assert cipher is not None
        return version, cipher[0]


@pytest.mark.parametrize("listener", sorted(GREETING))
def test_a_cbc_only_tls12_client_gets_no_handshake(server: ServerThread, listener: str) -> None:
    # The server ends the handshake (asyncio closes without sending its alert: EOF).
    with pytest.raises(ssl.SSLError):
        handshake(server, listener, tls12_client(server, CBC_ONLY))


@pytest.mark.parametrize("listener", sorted(GREETING))
def test_an_aead_tls12_client_is_served(server: ServerThread, listener: str) -> None:
    version, cipher = handshake(server, listener, tls12_client(server, AEAD))
    assert version == "TLSv1.2"
    assert "GCM" in cipher or "CHACHA20" in cipher, cipher


def test_starttls_uses_the_same_suites(server: ServerThread) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=10) as client:
        client.ehlo("client.test")
        with pytest.raises(ssl.SSLError):
            client.starttls(context=tls12_client(server, CBC_ONLY))
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=10) as client:
        client.ehlo("client.test")
        assert client.starttls(context=tls12_client(server, AEAD))[0] == 220
        assert client.ehlo("client.test")[0] == 250


def test_tls13_is_untouched(server: ServerThread) -> None:
    ctx = server.client_tls()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    assert handshake(server, "imaps", ctx)[0] == "TLSv1.3"


def _s_client(port: int, cipher: str, cafile: Path) -> subprocess.CompletedProcess[str]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl (Debian package openssl) is not installed")
    return subprocess.run(
        [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2", "-cipher", cipher,
         "-CAfile", str(cafile), "-brief"],
        input="", capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.interop
def test_openssl_s_client_agrees(server: ServerThread) -> None:
    cafile = Path(server.cfg.server.data_dir) / "tls" / "cert.pem"
    for listener in sorted(GREETING):
        port = server.port(listener)
        refused = _s_client(port, CBC_ONLY, cafile)
        assert refused.returncode != 0, refused.stdout + refused.stderr
        assert "Ciphersuite:" not in refused.stderr, refused.stderr
        served = _s_client(port, AEAD, cafile)
        assert served.returncode == 0, served.stderr
        assert "Protocol version: TLSv1.2" in served.stderr, served.stderr
        assert "Ciphersuite: ECDHE-ECDSA-" in served.stderr, served.stderr


def test_a_configured_list_is_used(tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "data")
    cfg = dataclasses.replace(cfg, tls=TlsConfig(ciphers="ECDHE-ECDSA-CHACHA20-POLY1305"))
    srv = ServerThread(cfg).start()
    try:
        assert handshake(srv, "imaps", tls12_client(srv, AEAD)) == (
            "TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305")
    finally:
        srv.stop()


@pytest.mark.parametrize("ciphers", ["NO-SUCH-CIPHER", "TLS_AES_128_GCM_SHA256", "!ALL"])
def test_a_cipher_string_openssl_rejects_is_a_config_error(ciphers: str) -> None:
    with pytest.raises(ConfigError, match=r"\[tls\] key 'ciphers'") as failed:
        config_from_dict({"tls": {"ciphers": ciphers}}, source="t.toml")
    assert str(failed.value).startswith("t.toml: ")


def test_serve_with_a_bad_cipher_string_says_so_in_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f"[server]\ndata_dir = '{tmp_path / 'd'}'\n[tls]\nciphers = 'RC4-NOPE'\n")
    proc = subprocess.run([sys.executable, "-m", "posthouse", "serve", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"posthouse: {cfg}: [tls] key 'ciphers'"), lines
    assert "RC4-NOPE" in lines[0]


def test_the_server_context_lists_no_cbc_suite(server: ServerThread) -> None:
    assert server.app.listeners is not None
    suites = server.app.listeners.tls.context.get_ciphers()
    tls12 = [s for s in suites if s["protocol"] == "TLSv1.2"]
    assert tls12
    assert all(s["aead"] and s["kea"] == "kx-ecdhe" for s in tls12), tls12
    assert any(s["protocol"] == "TLSv1.3" for s in suites)
