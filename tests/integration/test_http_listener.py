"""The HTTP/HTTPS listener over real sockets: routing, keep-alive, TLS, limits, bad input.

RFC 9112 (framing, 2.2 and 3: malformed requests), RFC 9110 (405 with Allow 15.5.6, HEAD
9.3.2, 408 15.5.9, 413 15.5.14, 431 RFC 6585 5)."""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from posthouse.cli.serve import apply_listen_overrides
from posthouse.config import Config, HttpConfig, LimitsConfig
from posthouse.web.messages import HttpRequest, HttpResponse
from tests.support.server import ServerThread, make_config


def _server(tmp_path: Path, **http: object) -> ServerThread:
    cfg = make_config(tmp_path / "data")
    cfg = dataclasses.replace(cfg, http=dataclasses.replace(HttpConfig(), **http))
    return ServerThread(cfg)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    srv = _server(tmp_path, header_seconds=2, max_header_bytes=2048, max_body_bytes=1000)

    async def echo(request: HttpRequest) -> HttpResponse:
        return HttpResponse.text(
            f"{request.method} {request.path} {request.host} {request.scheme} {len(request.body)}\n"
        )

    async def nothing(_request: HttpRequest) -> HttpResponse:
        return HttpResponse(204)

    async def broken(_request: HttpRequest) -> HttpResponse:
        raise RuntimeError("a bug in a page")

    srv.app.http_routes.add(("GET", "POST"), "/echo", echo)
    srv.app.http_routes.add("GET", "/nothing", nothing)
    srv.app.http_routes.add("GET", "/broken", broken)
    with srv:
        yield srv


def _raw(port: int, data: bytes, *, tls: ssl.SSLContext | None = None) -> bytes:
    """Send raw bytes, return everything the server answers until it closes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    if tls is not None:
        sock = tls.wrap_socket(sock, server_hostname="localhost")
    with sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_routes_over_http_and_https_with_keep_alive(server: ServerThread) -> None:
    plain = http.client.HTTPConnection("127.0.0.1", server.port("http"), timeout=30)
    plain.request("GET", "/healthz")
    resp = plain.getresponse()
    assert (resp.status, resp.read()) == (200, b"ok\n")
    assert resp.getheader("X-Content-Type-Options") == "nosniff"
    assert resp.getheader("Date")
    plain.request("POST", "/echo", body=b"hello", headers={"Host": "Mail.Example.TEST:80"})
    resp = plain.getresponse()  # the same connection: kept alive
    assert resp.read() == b"POST /echo mail.example.test http 5\n"
    plain.close()

    secure = http.client.HTTPSConnection(
        "127.0.0.1", server.port("https"), timeout=30, context=server.client_tls()
    )
    secure.request("GET", "/echo")
    assert secure.getresponse().read() == b"GET /echo 127.0.0.1 https 0\n"
    secure.request("HEAD", "/echo")
    resp = secure.getresponse()
    assert resp.status == 200
    assert resp.read() == b""
    assert int(resp.getheader("Content-Length") or 0) > 0
    secure.close()


def test_no_content_and_a_failing_page(server: ServerThread) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port("http"), timeout=30)
    conn.request("GET", "/nothing")
    resp = conn.getresponse()
    assert resp.status == 204
    assert resp.getheader("Content-Length") is None
    assert resp.read() == b""
    conn.request("GET", "/broken")  # the same connection: 204 kept it open
    resp = conn.getresponse()
    assert resp.status == 500
    assert b"a bug" not in resp.read()  # nothing of the failure reaches the client
    assert resp.getheader("Connection") == "close"
    conn.close()


def test_unknown_path_404_and_wrong_method_405(server: ServerThread) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port("http"), timeout=30)
    conn.request("GET", "/nothing/here")
    resp = conn.getresponse()
    assert resp.status == 404
    resp.read()
    conn.request("DELETE", "/echo")
    resp = conn.getresponse()
    assert resp.status == 405
    assert resp.getheader("Allow") == "GET, HEAD, POST"
    resp.read()
    conn.close()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host (RFC 9112 3.2)
        b"GET /echo HTTP/1.1\r\nHost: a\r\nbad header line\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
    ],
)
def test_malformed_request_gets_400_and_close(server: ServerThread, request_bytes: bytes) -> None:
    answer = _raw(server.port("http"), request_bytes + b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
    status = answer.split(b"\r\n", 1)[0]
    assert status.startswith((b"HTTP/1.1 400", b"HTTP/1.1 501")), answer
    assert b"Connection: close" in answer
    assert answer.count(b"HTTP/1.1 ") == 1  # the pipelined request after it is not served


@pytest.mark.parametrize(
    "path",
    [
        "/../etc/passwd",
        "/%2e%2e/etc/passwd",
        "/echo/%2E%2E/%2e%2e/x",
        "/./echo",
        "/a%2f..%2fb",
        "/a%5c..",
        "/a%00",
        "/%ff",
    ],
)
def test_path_traversal_and_bad_encodings_refused(server: ServerThread, path: str) -> None:
    answer = _raw(server.port("http"), f"GET {path} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 400 "), answer


def test_oversized_head_431_and_close(server: ServerThread) -> None:
    big = b"X-Filler: " + b"a" * 4000 + b"\r\n"
    answer = _raw(server.port("http"), b"GET /echo HTTP/1.1\r\nHost: a\r\n" + big + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 "), answer
    assert b"Connection: close" in answer
    # a head still growing past the limit is refused without waiting for its end
    answer = _raw(server.port("http"), b"GET /echo HTTP/1.1\r\nHost: a\r\n" + big)
    assert answer.startswith(b"HTTP/1.1 431 "), answer


def test_oversized_body_413_before_it_is_sent(server: ServerThread) -> None:
    head = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n"
    answer = _raw(server.port("http"), head + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 413 "), answer
    # with Expect: 100-continue the client is refused instead of invited
    answer = _raw(server.port("http"), head + b"Expect: 100-continue\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413 "), answer


def test_chunked_body_over_the_limit_413(server: ServerThread) -> None:
    chunk = b"%x\r\n%s\r\n" % (600, b"b" * 600)
    answer = _raw(
        server.port("http"),
        b"POST /echo HTTP/1.1\r\nHost: a\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunk + chunk + b"0\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413 "), answer


def test_chunked_body_within_the_limit(server: ServerThread) -> None:
    answer = _raw(
        server.port("http"),
        b"POST /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"POST /echo a http 5\n")


def test_slow_head_gets_408_and_close(server: ServerThread) -> None:
    """A client that starts a request and never finishes it ([http] header_seconds=2)."""
    with socket.create_connection(("127.0.0.1", server.port("http")), timeout=30) as sock:
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 "), answer


def test_idle_connection_closed_quietly(tmp_path: Path) -> None:
    with (
        _server(tmp_path, header_seconds=1) as srv,
        socket.create_connection(("127.0.0.1", srv.port("http")), timeout=30) as sock,
    ):
        assert sock.recv(4096) == b""  # nothing said, nothing answered, closed


def test_tls_garbage_on_https_is_dropped(server: ServerThread) -> None:
    answer = _raw(server.port("https"), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert b"HTTP/1.1 200" not in answer


def test_per_ip_listener_limit_gives_503(tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "data")
    cfg = dataclasses.replace(
        cfg, limits=dataclasses.replace(LimitsConfig(), max_connections_per_ip_per_listener=1)
    )
    with ServerThread(cfg) as srv:
        first = http.client.HTTPConnection("127.0.0.1", srv.port("http"), timeout=30)
        first.request("GET", "/healthz")
        assert first.getresponse().read() == b"ok\n"  # the first connection holds its slot
        for _ in range(3):  # a request sent at once still gets the answer, not a reset
            answer = _raw(srv.port("http"), b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 503 "), answer
        first.close()


def test_disabled_http_binds_nothing(tmp_path: Path) -> None:
    with _server(tmp_path, enabled=False) as srv:
        assert "http" not in srv.app.listeners.bound  # type: ignore[union-attr]
        assert "https" not in srv.app.listeners.bound  # type: ignore[union-attr]


def test_port_base_and_listen_override_move_http() -> None:
    args = argparse.Namespace(
        bind="127.0.0.1",
        port_base=20000,
        listen=["https=127.0.0.1:9443"],
        allow_plaintext_loopback=False,
        allow_root=False,
    )
    cfg = apply_listen_overrides(Config(), args)
    assert cfg.listen.http == ["127.0.0.1:20080"]
    assert cfg.listen.https == ["127.0.0.1:9443"]
    args.listen = ["http=off"]
    assert apply_listen_overrides(Config(), args).listen.http == []


def test_monitoring_pages_need_network_or_token(tmp_path: Path) -> None:
    with _server(tmp_path, metrics_networks=["192.0.2.0/24"], metrics_token="s3cret") as srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port("http"), timeout=30)
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        assert resp.status == 403
        assert b"ok" not in resp.read()
        conn.request("GET", "/readyz", headers={"Authorization": "Bearer wrong"})
        resp = conn.getresponse()
        assert resp.status == 403
        resp.read()
        conn.request("GET", "/readyz", headers={"Authorization": "Bearer s3cret"})
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"ready\n")
        conn.close()


def test_a_request_sent_byte_by_byte_is_served(server: ServerThread) -> None:
    """h11 is fed whatever arrives: one byte per segment gives the same answer."""
    request = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
    with socket.create_connection(("127.0.0.1", server.port("http")), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(request)):
            sock.sendall(request[i:i + 1])
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"POST /echo a http 3\n")


def test_pipelined_requests_are_answered_in_order(server: ServerThread) -> None:
    answer = _raw(server.port("http"), b"GET /echo HTTP/1.1\r\nHost: one\r\n\r\n"
                  b"POST /echo HTTP/1.1\r\nHost: two\r\nContent-Length: 2\r\n\r\nhi"
                  b"GET /healthz HTTP/1.1\r\nHost: three\r\nConnection: close\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 ") == 3
    first, second = answer.index(b"GET /echo one"), answer.index(b"POST /echo two http 2")
    assert first < second < answer.index(b"ok\n")


def test_shutdown_closes_idle_keep_alive_connections(tmp_path: Path) -> None:
    """A kept-alive connection waiting for its next request does not hold the shutdown for
    the grace (set far beyond the test's timeout here): it is closed at once."""
    cfg = make_config(tmp_path / "data")
    cfg = dataclasses.replace(cfg, limits=dataclasses.replace(
        LimitsConfig(), shutdown_grace_seconds=3600))
    srv = ServerThread(cfg).start()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port("http"), timeout=30)
    conn.request("GET", "/healthz")
    assert conn.getresponse().read() == b"ok\n"
    srv.stop()  # ServerThread.stop waits 60 s at most
    assert conn.sock is not None
    assert conn.sock.recv(1) == b""  # closed by the server
    conn.close()


def test_connect_and_upgrade_are_not_honoured(server: ServerThread) -> None:
    answer = _raw(server.port("http"), b"CONNECT example.org:443 HTTP/1.1\r\n"
                  b"Host: example.org:443\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    answer = _raw(server.port("http"), b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                  b"Upgrade: h2c\r\n\r\nGET /echo HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 ") == 2, answer  # answered as HTTP/1.1, no switch
    assert b"101" not in answer.split(b"\r\n", 1)[0]


def test_http_1_0_request_is_answered_and_closed(server: ServerThread) -> None:
    answer = _raw(server.port("http"), b"GET /echo HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"GET /echo  http 0\n")
