"""Static files (web/static.py) over real sockets: served below their directory only, never
through a dot segment, an encoded slash, a hidden name or a symbolic link out of it."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator

import pytest

from posthouse.web.static import register_static
from tests.support.server import ServerThread, make_config


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    base = tmp_path_factory.mktemp("static")
    (base / "secret.txt").write_text("outside the root")
    root = base / "assets"
    (root / "nested").mkdir(parents=True)
    (root / "app.css").write_text("body { color: black }")
    (root / "nested" / "logo.svg").write_text("<svg/>")
    (root / ".hidden.css").write_text("hidden")
    (root / "key.pem").write_text("not served: unknown type")
    (root / "escape.txt").symlink_to(base / "secret.txt")
    (root / "out").symlink_to(base)
    srv = ServerThread(make_config(base / "data"))
    register_static(srv.app.http_routes, "/static/", root)
    with srv:
        yield srv


def get(srv: ServerThread, path: str, headers: dict[str, str] | None = None
        ) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", srv.port("https"),
                                       context=srv.client_tls(), timeout=30)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


def raw_status(srv: ServerThread, path: str) -> bytes:
    """The status line for a path sent exactly as given (http.client would not send some)."""
    with socket.create_connection(("127.0.0.1", srv.port("http")), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


def test_files_are_served_with_their_type_and_etag(server: ServerThread) -> None:
    status, headers, body = get(server, "/static/app.css")
    assert (status, body) == (200, b"body { color: black }")
    assert headers["content-type"] == "text/css; charset=utf-8"
    assert headers["x-content-type-options"] == "nosniff"
    status, _, _ = get(server, "/static/app.css", {"If-None-Match": headers["etag"]})
    assert status == 304
    status, headers, body = get(server, "/static/nested/logo.svg")
    assert (status, headers["content-type"], body) == (200, "image/svg+xml", b"<svg/>")


@pytest.mark.parametrize("path", [
    "/static/.hidden.css", "/static/key.pem", "/static/escape.txt", "/static/out/secret.txt",
    "/static/nested", "/static/", "/static//etc/passwd", "/static/nested//logo.svg",
    "/static/missing.css",
])
def test_what_is_not_served(server: ServerThread, path: str) -> None:
    status, _, body = get(server, path)
    assert status == 404
    assert b"outside" not in body


@pytest.mark.parametrize("path", [
    "/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/%2E%2E/%2e%2e/etc/passwd",
    "/static/nested/../../secret.txt", "/static/..%2fsecret.txt", "/static/%2fetc%2fpasswd",
    "/static/..%5csecret.txt", "/static/nested/%2e%2e/app.css", "/static/./app.css",
])
def test_traversal_is_refused_before_any_file_is_looked_at(server: ServerThread,
                                                           path: str) -> None:
    assert raw_status(server, path).startswith(b"HTTP/1.1 400 ")


def test_form_fields(server: ServerThread) -> None:
    from posthouse.web.messages import HttpRequest, HttpResponse

    async def form(request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(request.form())

    server.app.http_routes.add("POST", "/form-test", form)  # the table is read per request
    conn = http.client.HTTPSConnection("127.0.0.1", server.port("https"),
                                       context=server.client_tls(), timeout=30)
    conn.request("POST", "/form-test", body="a=1&b=caf%C3%A9&a=2",
                 headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    assert conn.getresponse().read() == b'{"a":["1","2"],"b":["caf\\u00e9"]}'
    conn.request("POST", "/form-test", body="a=1", headers={"Content-Type": "text/plain"})
    assert conn.getresponse().read() == b"{}"
    conn.close()
