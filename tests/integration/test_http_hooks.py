"""The hooks ACME builds on: tls-alpn-01 (RFC 8737 3) on the HTTPS listener, and a page
under /.well-known/acme-challenge/ on port 80 only (RFC 8555 8.3)."""

from __future__ import annotations

import http.client
import socket
import ssl
from pathlib import Path

from cryptography import x509

from posthouse.config import tls_paths
from posthouse.net.tls import ACME_TLS_ALPN
from posthouse.web.messages import HttpRequest, HttpResponse
from posthouse.web.routes import ACME_CHALLENGE_PREFIX, HTTP_ONLY, HttpRoutes
from tests.support.server import ServerThread, make_config
from tests.support.test_ca import TestCa


def _handshake(port: int, name: str, alpn: list[str]) -> tuple[str | None, x509.Certificate]:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(alpn)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, ctx.wrap_socket(
            raw, server_hostname=name) as tls:
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return tls.selected_alpn_protocol(), x509.load_der_x509_certificate(der)


def test_tls_alpn_challenge_certificate_per_sni_name(tmp_path: Path) -> None:
    ca = TestCa(tmp_path / "ca")
    chain, key, leaf = ca.issue("mail.example.test")
    with ServerThread(make_config(tmp_path / "data")) as srv:
        port = srv.port("https")
        tls = srv.app.listeners.tls  # type: ignore[union-attr]
        tls.add_alpn_challenge("Mail.Example.Test", chain, key)
        protocol, cert = _handshake(port, "mail.example.test", [ACME_TLS_ALPN])
        assert protocol == ACME_TLS_ALPN
        assert cert == leaf
        # another name gets the server's own certificate and no ALPN
        protocol, cert = _handshake(port, "other.example.test", [ACME_TLS_ALPN])
        assert protocol is None
        assert cert != leaf
        srv.app.reload_tls()  # a reload keeps the pending challenge
        assert _handshake(port, "mail.example.test", [ACME_TLS_ALPN])[1] == leaf
        tls.remove_alpn_challenge("mail.example.test")
        protocol, cert = _handshake(port, "mail.example.test", [ACME_TLS_ALPN])
        assert protocol is None
        assert cert != leaf
        # the HTTPS listener still serves pages after all this
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=srv.client_tls(),
                                           timeout=30)
        conn.request("GET", "/healthz")
        assert conn.getresponse().read() == b"ok\n"
        conn.close()


def test_challenge_page_on_port_80_only(tmp_path: Path) -> None:
    srv = ServerThread(make_config(tmp_path / "data"))
    tokens = {"tok-123": "tok-123.thumbprint"}

    async def challenge(request: HttpRequest) -> HttpResponse:
        token = request.path.rpartition("/")[2]
        if token not in tokens:
            return HttpResponse.error(404)
        return HttpResponse(200, tokens[token].encode(),
                            [("Content-Type", "application/octet-stream")])

    routes: HttpRoutes = srv.app.http_routes
    routes.add("GET", ACME_CHALLENGE_PREFIX, challenge, prefix=True, schemes=HTTP_ONLY)
    with srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port("http"), timeout=30)
        conn.request("GET", "/.well-known/acme-challenge/tok-123",
                     headers={"Host": "mail.example.test"})
        assert conn.getresponse().read() == b"tok-123.thumbprint"
        conn.request("GET", "/.well-known/acme-challenge/other")
        resp = conn.getresponse()
        assert resp.status == 404
        resp.read()
        conn.close()
        secure = http.client.HTTPSConnection("127.0.0.1", srv.port("https"),
                                             context=srv.client_tls(), timeout=30)
        secure.request("GET", "/.well-known/acme-challenge/tok-123")
        resp = secure.getresponse()
        assert resp.status == 404
        resp.read()
        secure.close()


def test_sighup_reload_changes_the_https_certificate(tmp_path: Path) -> None:
    """The HTTPS listener shares the mail listeners' TLS factory: a reload (SIGHUP) gives
    new connections the new certificate."""
    ca = TestCa(tmp_path / "ca")
    with ServerThread(make_config(tmp_path / "data")) as srv:
        port = srv.port("https")
        old = _handshake(port, "mx.example.test", [])[1]
        chain, key, leaf = ca.issue("mx.example.test")
        cert_path, key_path = tls_paths(srv.cfg)
        cert_path.write_bytes(chain.read_bytes())
        key_path.write_bytes(key.read_bytes())
        srv.app.reload_tls()
        new = _handshake(port, "mx.example.test", [])[1]
    assert new == leaf
    assert new != old
