"""The web admin over real sockets, without a browser: every page needs a session, every
POST the same origin and the session's CSRF token; the cookies' attributes; the CSP and
the other page headers; logins through the mail authenticator; static files that no path
can climb out of; untrusted text escaped."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from posthouse.admin.guard import CSP, LOGIN_COOKIE, SESSION_COOKIE
from posthouse.config import QueueConfig
from tests.support.admin_http import ADMIN, AdminClient, refuse_loopback
from tests.support.dnsserver import DnsServer
from tests.support.server import PASSWORD, ServerThread, make_config

PAGES = ("/admin/status", "/admin/domains", "/admin/dns?domain=example.test",
         "/admin/users", "/admin/user?address=admin@example.test", "/admin/aliases",
         "/admin/queue", "/admin/queue/show?id=1", "/admin/logs")
ACTIONS = ("/admin/domains/add", "/admin/domains/remove", "/admin/users/add",
           "/admin/users/password", "/admin/users/options", "/admin/users/remove",
           "/admin/aliases/add", "/admin/aliases/remove", "/admin/aliases/catchall",
           "/admin/queue/action", "/admin/metadata", "/admin/tlsrpt", "/admin/logout")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    # The queue's DNS answers SERVFAIL for remote.test: a queued message stays queued.
    dns = DnsServer().start()
    dns.servfail.add("remote.test")
    cfg = make_config(tmp_path / "data")
    cfg = dataclasses.replace(cfg, queue=QueueConfig(resolver=dns.address))
    try:
        with ServerThread(cfg) as srv:
            srv.add_user(ADMIN, role="admin")
            srv.add_user("user@example.test")
            yield srv
    finally:
        dns.stop()


@pytest.fixture
def admin(server: ServerThread) -> AdminClient:
    client = AdminClient(server)
    assert client.log_in().status == 303
    return client


def test_every_page_and_action_refuses_without_a_session(server: ServerThread) -> None:
    client = AdminClient(server)
    for path in PAGES:
        answer = client.get(path)
        assert (answer.status, answer.header("location")) == (303, "/admin/login"), path
    for path in ACTIONS:
        answer = client.post(path, {"csrf": "x", "domain": "evil.test"})
        assert answer.status == 403, path
    assert client.get("/admin").header("location") == "/admin/login"
    assert server.call(server.store.list_domains()) == ["example.test"]


def test_every_action_refuses_a_session_without_its_csrf_token(
        admin: AdminClient, server: ServerThread) -> None:
    fields = {"domain": "example.test", "address": "user@example.test", "password": "x" * 12,
              "targets": "user@example.test", "id": "1", "action": "delete",
              "confirm": "yes", "quota": "1", "role": "admin"}
    token = admin.get("/admin/status").csrf()
    for path in ACTIONS:
        assert admin.post(path, fields).status == 403, path
        assert admin.post(path, {**fields, "csrf": "A" * len(token)}).status == 403, path
        assert admin.post(path, {**fields, "csrf": token},
                          origin="https://evil.example").status == 403, path
    assert server.call(server.store.list_domains()) == ["example.test"]
    user = server.call(server.store.get_user("user@example.test"))
    assert (user.role, user.quota_bytes) == ("user", 0)
    assert admin.get("/admin/status").status == 200  # not even logged out


def test_a_forged_session_cookie_is_no_session(server: ServerThread) -> None:
    client = AdminClient(server, cookies={SESSION_COOKIE: "A" * 43})
    assert client.get("/admin/status").status == 303


def test_login_cookies_are_secure_httponly_samesite_strict(server: ServerThread) -> None:
    client = AdminClient(server)
    page = client.get("/admin/login")
    login_cookie = page.cookies_set()[LOGIN_COOKIE]
    for attribute in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert attribute in login_cookie.split("; ")
    answer = client.post("/admin/login", {"csrf": page.csrf(), "address": ADMIN,
                                          "password": PASSWORD})
    assert (answer.status, answer.header("location")) == (303, "/admin/status")
    session = answer.cookies_set()[SESSION_COOKIE]
    attributes = session.split("; ")
    assert {"Path=/", "Secure", "HttpOnly", "SameSite=Strict"} <= set(attributes)
    assert not any(a.startswith(("Domain", "Max-Age", "Expires")) for a in attributes)
    assert len(session.split(";")[0].split("=", 1)[1]) >= 43  # 256 random bits
    assert "Max-Age=0" in answer.cookies_set()[LOGIN_COOKIE]
    assert client.get("/admin/status").status == 200


def test_every_admin_page_has_the_security_headers(admin: AdminClient) -> None:
    for path in (*PAGES, "/admin/login"):
        answer = admin.get(path)
        assert answer.header("content-security-policy") == CSP, path
        assert answer.header("x-frame-options") == "DENY"
        assert answer.header("x-content-type-options") == "nosniff"
        assert answer.header("referrer-policy") == "no-referrer"
    assert "script-src" not in CSP
    assert "default-src 'none'" in CSP
    assert "<script" not in admin.get("/admin/status").body


def test_posts_need_this_origin_and_the_session_csrf_token(admin: AdminClient,
                                                           server: ServerThread) -> None:
    token = admin.get("/admin/domains").csrf()
    refused = [
        admin.post("/admin/domains/add", {"domain": "a.test"}),  # no token
        admin.post("/admin/domains/add", {"domain": "a.test", "csrf": token[:-2] + "xx"}),
        admin.post("/admin/domains/add", {"domain": "a.test", "csrf": token},
                   origin="https://evil.example"),
        admin.post("/admin/domains/add", {"domain": "a.test", "csrf": token},
                   origin=f"http://127.0.0.1:{server.port('https')}"),
        admin.post("/admin/domains/add", {"domain": "a.test", "csrf": token}, origin=None),
        admin.post("/admin/domains/add", {"domain": "a.test", "csrf": token}, origin=None,
                   referer="https://evil.example/admin/domains"),
    ]
    assert [a.status for a in refused] == [403] * len(refused)
    assert server.call(server.store.list_domains()) == ["example.test"]
    other = AdminClient(server)
    assert other.log_in().status == 303
    # Another session's token is not this session's.
    assert admin.post("/admin/domains/add", {"domain": "a.test",
                                             "csrf": other.get("/admin/domains").csrf()}
                      ).status == 403
    ok = admin.post("/admin/domains/add", {"domain": "a.test", "csrf": token}, origin=None,
                    referer=admin.origin + "/admin/domains")
    assert (ok.status, ok.header("location")) == (303, "/admin/domains")
    assert server.call(server.store.list_domains()) == ["a.test", "example.test"]
    assert "domain a.test added" in admin.get("/admin/domains").body


def test_the_login_form_has_its_own_csrf_token(server: ServerThread) -> None:
    client = AdminClient(server)
    fields = {"address": ADMIN, "password": PASSWORD}
    assert client.post("/admin/login", {**fields, "csrf": "x" * 43}).status == 403
    token = client.get("/admin/login").csrf()
    assert client.post("/admin/login", {**fields, "csrf": "y" * 43}).status == 403
    assert client.post("/admin/login", {**fields, "csrf": token},
                       origin="https://evil.example").status == 403
    assert client.post("/admin/login", {**fields, "csrf": token}).status == 303


def test_only_enabled_admins_log_in(server: ServerThread) -> None:
    assert AdminClient(server).log_in("user@example.test").status == 401
    assert AdminClient(server).log_in(ADMIN, "wrong password").status == 401
    client = AdminClient(server)
    assert client.log_in().status == 303
    server.call(server.store.set_user_options(ADMIN, disabled=True))
    assert client.get("/admin/status").status == 303  # the session ended with the access
    answer = AdminClient(server).log_in()
    assert answer.status == 401
    assert "Wrong address or password, or not an admin." in answer.body


def test_logout_ends_the_session_on_the_server(admin: AdminClient) -> None:
    stolen = dict(admin.cookies)
    token = admin.get("/admin/status").csrf()
    answer = admin.post("/admin/logout", {"csrf": token})
    assert (answer.status, answer.header("location")) == (303, "/admin/login")
    assert "Max-Age=0" in answer.cookies_set()[SESSION_COOKIE]
    replay = AdminClient(admin.srv, cookies=stolen)
    assert replay.get("/admin/status").status == 303


def test_failed_admin_logins_are_throttled_like_mail_logins(
        server: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="posthouse.auth")
    for _ in range(2):
        assert AdminClient(server).log_in(ADMIN, "not the password").status == 401
    failures = [r.getMessage() for r in caplog.records if "auth failure" in r.getMessage()]
    assert "source_failures=2" in failures[-1]
    assert "delay=1.0s" in failures[-1]


def _raw_status(server: ServerThread, target: str) -> int:
    """The status of a GET sent byte for byte (no client normalizes the target)."""
    ctx = server.client_tls()
    with (socket.create_connection(("127.0.0.1", server.port("https")), timeout=30) as raw,
          ctx.wrap_socket(raw, server_hostname="localhost") as sock):
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


def test_static_files_cannot_be_climbed_out_of(server: ServerThread) -> None:
    css = AdminClient(server).get("/admin/static/admin.css")
    assert css.status == 200
    assert css.header("content-type") == "text/css; charset=utf-8"
    assert "posthouse web admin" in css.body
    for target in ("/admin/static/../pages.py", "/admin/static/%2e%2e/pages.py",
                   "/admin/static/%2E%2E/%2e%2e/config.py", "/admin/static/..%2fpages.py",
                   "/admin/static/..\\pages.py", "/admin/static/%5c..%5cpages.py",
                   "/admin/static/.%2e/pages.py", "/admin/static/%2e%2e%2f%2e%2e%2fapp.py"):
        assert _raw_status(server, target) == 400, target
    for target in ("/admin/static//etc/passwd", "/admin/static/pages.py",
                   "/admin/static/", "/admin/static/static/admin.css",
                   "/admin/static/C:%2fWindows", "/admin/static/admin.css%00",
                   "/admin/static//work/wt-webadmin/pyproject.toml"):
        assert _raw_status(server, target) in (400, 404), target


def test_untrusted_text_is_escaped(admin: AdminClient, server: ServerThread) -> None:
    # A login attempt whose "address" is markup lands in the log page.
    AdminClient(server).log_in("<script>alert(1)</script>@x.test", "whatever password")
    body = admin.get("/admin/logs").body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@x.test" in body
    assert "<script>" not in body
    # An alias target with quotes and angle brackets cannot be stored; the refusal that
    # repeats it is escaped too.
    token = admin.get("/admin/aliases").csrf()
    admin.post("/admin/aliases/add", {"csrf": token, "address": "a@example.test",
                                      "targets": '"><img src=x>@example.test'})
    page = admin.get("/admin/aliases").body
    assert "<img src=x>" not in page


def test_the_admin_is_not_on_plain_http(server: ServerThread) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port("http"), timeout=30)
    conn.request("GET", "/admin/login")
    assert conn.getresponse().status == 404
    conn.close()


def test_every_action_does_what_the_cli_does(admin: AdminClient, server: ServerThread) -> None:
    """Each form once, checked in the store (the same admin/operations.py functions as the
    CLI run underneath)."""
    from posthouse.store.models import OutboundEnvelope, OutboundRecipient

    store = server.store
    token = admin.get("/admin/status").csrf()

    def post(path: str, **fields: str) -> str:
        answer = admin.post(path, {"csrf": token, **fields})
        assert answer.status == 303, (path, answer.body)
        page = admin.get(answer.header("location") or "/")
        if page.status == 303:  # a page of something that is gone sends to its list
            page = admin.get(page.header("location") or "/")
        assert page.status == 200
        return page.body

    assert "domain b.test added" in post("/admin/domains/add", domain="B.test")
    assert "account dan@b.test added" in post("/admin/users/add", address="dan@b.test",
                                              password="dan's password", quota="5",
                                              admin="yes")
    dan = server.call(store.get_user("dan@b.test"))
    assert (dan.quota_bytes, dan.role) == (5 * 1024 * 1024, "admin")
    dans_browser = AdminClient(server)
    assert dans_browser.log_in("dan@b.test", "dan's password").status == 303
    assert "password of dan@b.test changed" in post("/admin/users/password",
                                                     address="dan@b.test",
                                                     password="a new long one")
    assert dans_browser.get("/admin/status").status == 303  # its sessions ended
    assert AdminClient(server).log_in("dan@b.test", "a new long one").status == 303
    assert "at least 8 characters" in post("/admin/users/password", address="dan@b.test",
                                           password="short")
    body = post("/admin/users/options", address="dan@b.test", quota="0", pop3_keep="yes",
                role="user", disabled="yes")
    assert "dan@b.test: quota none, POP3 keeps, role user, login disabled" in body
    dan = server.call(store.get_user("dan@b.test"))
    assert (dan.quota_bytes, dan.pop3_keep, dan.role, dan.disabled) == (0, True, "user", True)
    assert "cannot take your own admin access" in post("/admin/users/options",
                                                       address=ADMIN, role="user")
    assert "cannot remove your own account" in post("/admin/users/remove", address=ADMIN)
    assert "alias team@b.test -&gt; dan@b.test, x@remote.test" in post(
        "/admin/aliases/add", address="team@b.test", targets="dan@b.test,x@remote.test")
    assert "catch-all of b.test: dan@b.test" in post("/admin/aliases/catchall",
                                                     domain="b.test", target="dan@b.test")
    assert server.call(store.get_catchall("b.test")) == "dan@b.test"
    assert "catch-all of b.test: none" in post("/admin/aliases/catchall", domain="b.test",
                                               target="")
    assert "alias team@b.test removed" in post("/admin/aliases/remove", address="team@b.test")
    assert server.call(store.get_alias("team@b.test")) is None

    envelope = OutboundEnvelope(ADMIN, (OutboundRecipient("bob@remote.test"),))
    queue_id = server.call(store.enqueue(b"Subject: hi\r\n\r\nhi\r\n", envelope))
    page = admin.get(f"/admin/queue/show?id={queue_id}").body
    assert "bob@remote.test" in page
    assert "&lt;admin@example.test&gt;" in page
    assert f"{queue_id} held" in post("/admin/queue/action", id=str(queue_id), action="hold")
    assert server.call(store.get_queued(queue_id)).held
    assert f"{queue_id} released" in post("/admin/queue/action", id=str(queue_id),
                                          action="release")
    assert f"{queue_id} deleted" in post("/admin/queue/action", id=str(queue_id),
                                         action="delete")
    assert server.call(store.list_queue()) == []
    assert "no queued message 99" in post("/admin/queue/action", id="99", action="retry")

    assert "tick the box" in post("/admin/users/remove", address="dan@b.test")
    assert "tick the box" in post("/admin/domains/remove", domain="b.test")
    assert "/shared/comment set" in post("/admin/metadata", name="/shared/comment",
                                         value="Maintenance <Sunday>")
    assert "<td>Maintenance &lt;Sunday&gt;</td>" in admin.get("/admin/status").body
    assert server.call(store.get_metadata(0, 0, ["/shared/comment"])) == [
        ("/shared/comment", b"Maintenance <Sunday>")]
    assert "/shared/comment deleted" in post("/admin/metadata", name="/shared/comment",
                                             value="")
    assert "/shared/admin is always the postmaster" in post(
        "/admin/metadata", name="/shared/admin", value="x")
    assert "0 TLS report(s) queued" in post("/admin/tlsrpt")
    assert "account dan@b.test removed" in post("/admin/users/remove", address="dan@b.test",
                                                confirm="yes")
    assert "domain b.test removed" in post("/admin/domains/remove", domain="b.test",
                                           confirm="yes")
    assert server.call(store.list_domains()) == ["example.test"]
    assert "AlreadyExists" not in post("/admin/domains/add", domain="example.test")


def test_a_refused_source_is_told_so(server: ServerThread) -> None:
    """Past the throttle's failure limit the login page says the address is refused, even
    for the right password (the throttle is the mail logins' own)."""
    refuse_loopback(server)
    answer = AdminClient(server).log_in()
    assert answer.status == 429
    assert "Too many failed logins from your address" in answer.body


def test_admin_networks_and_the_switch(tmp_path: Path) -> None:
    """``[http] admin_networks`` hides the admin from other clients (404, as if absent);
    ``[http] admin = false`` has no admin pages at all."""
    from posthouse.config import HttpConfig

    for n, http_cfg in enumerate((HttpConfig(admin_networks=["192.0.2.0/24"]),
                                  HttpConfig(admin=False))):
        cfg = dataclasses.replace(make_config(tmp_path / f"data{n}"), http=http_cfg)
        with ServerThread(cfg) as srv:
            srv.add_user(ADMIN, role="admin")
            client = AdminClient(srv)
            assert client.get("/admin/login").status == 404
            assert client.post("/admin/login", {"address": ADMIN}).status == 404
            assert client.get("/admin/status").status == 404
