"""The webmail's pages and its cookie as a JMAP credential, over real sockets: login and
logout, the cookie's flags, the CSRF token and same-origin rule on every cookie POST, the
Content-Security-Policy of the app and of the framed message, 401 without a session, and
no reading another account's message through the render page."""

from __future__ import annotations

import dataclasses
import http.client
import json
import smtplib
from pathlib import Path
from typing import Any

import pytest

from tests.support.admin_http import refuse_loopback
from tests.support.jmap import JmapTestClient
from tests.support.server import PASSWORD, ServerThread, make_config

COOKIE = "__Host-posthouse-mail"
HTML_MAIL = (b"From: Zoe <zoe@remote.example>\r\nTo: ann@example.test\r\n"
             b"Subject: html news\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: text/html; charset=utf-8\r\n\r\n"
             b"<p>Hello <b>Ann</b><script>alert(1)</script></p>\r\n")


class Browserish:
    """What a browser does with the webmail's cookie, over http.client."""

    def __init__(self, server: ServerThread) -> None:
        self.server = server
        self.origin = f"https://127.0.0.1:{server.port('https')}"
        self.cookie: str | None = None
        self.csrf: str | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, *, cookie: bool = True
                ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPSConnection("127.0.0.1", self.server.port("https"),
                                           context=self.server.client_tls(), timeout=30)
        sent = dict(headers or {})
        if cookie and self.cookie:
            sent["Cookie"] = f"{COOKIE}={self.cookie}"
        conn.request(method, path, body=body, headers=sent)
        resp = conn.getresponse()
        data = resp.read()
        got = {k.lower(): v for k, v in resp.getheaders()}
        got["set-cookie"] = "\n".join(v for k, v in resp.getheaders()
                                      if k.lower() == "set-cookie")
        conn.close()
        return resp.status, got, data

    def login(self, address: str, password: str = PASSWORD,
              origin: str | None = "same") -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "application/json"}
        if origin is not None:
            headers["Origin"] = self.origin if origin == "same" else origin
        status, got, body = self.request("POST", "/mail/login", json.dumps(
            {"address": address, "password": password}).encode(), headers, cookie=False)
        if status == 200:
            self.cookie = got["set-cookie"].split(";")[0].split("=", 1)[1]
            self.csrf = json.loads(body)["csrf"]
        return status, got, body

    def api(self, calls: list[Any], *, csrf: bool = True, origin: str | None = "same",
            extra: dict[str, str] | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json", **(extra or {})}
        if csrf and self.csrf:
            headers["X-Posthouse-CSRF"] = self.csrf
        if origin is not None:
            headers["Origin"] = self.origin if origin == "same" else origin
        body = json.dumps({"using": ["urn:ietf:params:jmap:core",
                                     "urn:ietf:params:jmap:mail"],
                           "methodCalls": calls}).encode()
        status, _, data = self.request("POST", "/jmap/api/", body, headers)
        return status, json.loads(data) if status == 200 else data


@pytest.fixture
def ann(users: ServerThread) -> Browserish:
    return Browserish(users)


def deliver(server: ServerThread, to: str, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as smtp:
        smtp.sendmail("zoe@remote.example", [to], data)


def first_email(client: Browserish) -> str:
    status, body = client.api([["Email/query", {"accountId": account(client)}, "q"]])
    assert status == 200, body
    return str(body["methodResponses"][0][1]["ids"][0])


def account(client: Browserish) -> str:
    status, _, body = client.request("GET", "/.well-known/jmap")
    assert status == 200, body
    return str(json.loads(body)["primaryAccounts"]["urn:ietf:params:jmap:mail"])


def test_login_sets_a_host_cookie_and_logout_ends_the_session(ann: Browserish) -> None:
    status, headers, body = ann.login("ann@example.test")
    assert status == 200, body
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    flags = {f.strip() for f in cookie.split(";")[1:]}
    assert {"Path=/", "Secure", "HttpOnly", "SameSite=Strict"} <= flags
    assert not any(f.lower().startswith("domain") for f in flags)
    assert json.loads(body)["address"] == "ann@example.test"

    status, _, body = ann.request("GET", "/mail/session")
    assert status == 200
    assert json.loads(body) == {"address": "ann@example.test", "csrf": ann.csrf,
                                "jmapSession": "/.well-known/jmap"}
    # logout needs the token and this origin too
    assert ann.request("POST", "/mail/logout", b"", {"Origin": ann.origin})[0] == 403
    status, headers, _ = ann.request("POST", "/mail/logout", b"",
                                     {"Origin": ann.origin, "X-Posthouse-CSRF": ann.csrf or ""})
    assert status == 204
    assert "Max-Age=0" in headers["set-cookie"]
    assert ann.request("GET", "/mail/session")[0] == 401
    assert ann.api([["Mailbox/get", {}, "m"]])[0] == 401


def test_logins_are_refused_without_this_origin_or_the_password(ann: Browserish) -> None:
    assert ann.login("ann@example.test", origin=None)[0] == 403
    assert ann.login("ann@example.test", origin="https://evil.example")[0] == 403
    status, headers, body = ann.login("ann@example.test", "wrong")
    assert status == 401
    assert json.loads(body) == {"error": "Wrong address or password."}
    assert COOKIE not in headers["set-cookie"]
    # a form post from the page works as well (and lands on the app)
    status, headers, _ = ann.request(
        "POST", "/mail/login", f"address=ann%40example.test&password={PASSWORD}".encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin",
         "Origin": "null"}, cookie=False)
    assert status == 303
    assert headers["location"] == "/mail"
    assert headers["set-cookie"].startswith(f"{COOKIE}=")


def test_the_login_is_https_only(users: ServerThread) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", users.port("http"), timeout=30)
    conn.request("POST", "/mail/login", body=b"address=ann%40example.test&password=x",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status != 200
    assert resp.getheader("set-cookie") is None


def test_cookie_posts_need_the_csrf_token_and_this_origin(ann: Browserish) -> None:
    assert ann.login("ann@example.test")[0] == 200
    calls = [["Mailbox/get", {"accountId": account(ann)}, "m"]]
    assert ann.api(calls, csrf=False)[0] == 403
    assert ann.api(calls, origin="https://evil.example")[0] == 403
    assert ann.api(calls, origin=None, extra={"Sec-Fetch-Site": "cross-site"})[0] == 403
    good = ann.csrf
    ann.csrf = "x" * 43
    assert ann.api(calls)[0] == 403
    ann.csrf = good
    status, body = ann.api(calls)
    assert status == 200
    names = {m["name"] for m in body["methodResponses"][0][1]["list"]}
    assert {"INBOX", "Sent", "Drafts", "Trash"} <= names
    # uploads are POSTs too
    path = f"/jmap/upload/{account(ann)}/"
    assert ann.request("POST", path, b"data", {"Origin": ann.origin})[0] == 403
    status, _, body = ann.request("POST", path, b"data", {
        "Origin": ann.origin, "X-Posthouse-CSRF": ann.csrf or "",
        "Content-Type": "text/plain"})
    assert status == 201, body
    # a WebSocket handshake with the cookie must come from this origin
    ws = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "jmap"}
    assert ann.request("GET", "/jmap/ws/", None, {**ws, "Origin": "https://evil.example"}
                       )[0] == 403


def test_without_a_live_cookie_the_api_is_401_and_basic_still_works(
        ann: Browserish, users: ServerThread) -> None:
    status, headers, _ = ann.request("POST", "/jmap/api/", b"{}")
    assert status == 401
    assert headers["www-authenticate"].startswith("Basic ")
    ann.cookie, ann.csrf = "not-a-session", "x"
    status, headers, _ = ann.request("POST", "/jmap/api/", b"{}")
    assert status == 401
    # the page's own requests: no Basic challenge, so the browser opens no password dialog
    assert headers["www-authenticate"].startswith("Posthouse-Session ")
    assert ann.request("GET", "/mail/session")[0] == 401
    assert ann.request("GET", "/mail/render/Mabc")[0] == 401
    basic = JmapTestClient(users, "ann@example.test")
    assert basic.call("Mailbox/get", {})["list"]


def test_the_app_and_the_framed_message_carry_their_policies(
        ann: Browserish, users: ServerThread) -> None:
    status, headers, body = ann.request("GET", "/mail")
    assert status == 200
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["x-frame-options"] == "DENY"
    assert b'<script type="module" src="/mail/static/app.js">' in body
    assert b"<script>" not in body
    assert b"style=" not in body
    status, headers, _ = ann.request("GET", "/mail/static/app.js")
    assert status == 200
    assert headers["content-type"].startswith("text/javascript")

    deliver(users, "ann@example.test", HTML_MAIL)
    assert ann.login("ann@example.test")[0] == 200
    email_id = first_email(ann)
    status, headers, body = ann.request("GET", f"/mail/render/{email_id}?images=0")
    assert status == 200, body
    assert headers["content-type"].startswith("text/html")
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "img-src data:;" in policy
    assert "frame-ancestors 'self'" in policy
    assert "sandbox" in policy
    assert "script-src" not in policy
    assert headers["x-posthouse-blocked-images"] == "0"
    assert b"<script>alert" not in body
    status, headers, _ = ann.request("GET", f"/mail/render/{email_id}?images=1")
    assert "img-src data: https: http:;" in headers["content-security-policy"]


def test_the_render_page_of_another_accounts_message_is_404(users: ServerThread) -> None:
    deliver(users, "bob@example.test", HTML_MAIL)
    bob = Browserish(users)
    assert bob.login("bob@example.test")[0] == 200
    bobs = first_email(bob)
    assert bob.request("GET", f"/mail/render/{bobs}")[0] == 200
    ann = Browserish(users)
    assert ann.login("ann@example.test")[0] == 200
    assert ann.request("GET", f"/mail/render/{bobs}")[0] == 404
    assert ann.request("GET", "/mail/render/Mnothing")[0] == 404


def test_attachments_download_as_attachments(ann: Browserish, users: ServerThread) -> None:
    deliver(users, "ann@example.test", (
        b"From: zoe@remote.example\r\nTo: ann@example.test\r\nSubject: file\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--b\r\nContent-Type: text/html; name=page.html\r\n"
        b"Content-Disposition: attachment; filename=page.html\r\n\r\n"
        b"<script>alert(1)</script>\r\n--b--\r\n"))
    assert ann.login("ann@example.test")[0] == 200
    email_id = first_email(ann)
    status, body = ann.api([["Email/get", {"accountId": account(ann), "ids": [email_id],
                                           "properties": ["attachments"]}, "g"]])
    (part,) = body["methodResponses"][0][1]["list"][0]["attachments"]
    status, headers, data = ann.request(
        "GET", f"/jmap/download/{account(ann)}/{part['blobId']}/page.html?accept=text/html")
    assert status == 200
    assert data.startswith(b"<script>")
    assert headers["content-type"] == "text/html"
    assert headers["content-disposition"] == "attachment; filename*=UTF-8''page.html"
    assert headers["x-content-type-options"] == "nosniff"


def test_failed_logins_go_through_the_mail_login_throttle(
        ann: Browserish, users: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="posthouse.auth")
    for _ in range(2):
        assert ann.login("ann@example.test", "not the password")[0] == 401
    failures = [r.getMessage() for r in caplog.records if "auth failure" in r.getMessage()]
    assert "source_failures=2" in failures[-1]
    refuse_loopback(users)
    status, _, body = ann.login("ann@example.test")
    assert status == 429
    assert "Too many failed logins from your address" in json.loads(body)["error"]


def test_a_disabled_account_loses_its_sessions(ann: Browserish, users: ServerThread) -> None:
    assert ann.login("ann@example.test")[0] == 200
    assert ann.request("GET", "/mail/session")[0] == 200
    users.call(users.store.set_user_options("ann@example.test", disabled=True))
    assert ann.api([["Mailbox/get", {}, "m"]])[0] == 401
    users.call(users.store.set_user_options("ann@example.test", disabled=False))
    assert ann.request("GET", "/mail/session")[0] == 401  # the session ended for good


def test_webmail_off_means_no_pages(tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "data")
    cfg = dataclasses.replace(cfg, http=dataclasses.replace(cfg.http, webmail=False))
    with ServerThread(cfg) as server:
        server.add_user("ann@example.test")
        client = Browserish(server)
        assert client.request("GET", "/mail")[0] == 404
        assert client.login("ann@example.test")[0] == 404
