"""A small JMAP client for tests: http.client over TLS to the server's HTTPS listener,
HTTP Basic or a bearer token, JSON in and out. It knows nothing of posthouse's insides."""

from __future__ import annotations

import base64
import http.client
import imaplib
import json
from typing import Any

from tests.support.server import PASSWORD, ServerThread

CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"


class JmapTestClient:
    """One user's view of the JMAP pages."""

    def __init__(self, srv: ServerThread, user: str, password: str = PASSWORD) -> None:
        self.srv = srv
        self.user = user
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.auth = f"Basic {token}"
        self._session: dict[str, Any] | None = None

    def connection(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("127.0.0.1", self.srv.port("https"),
                                           context=self.srv.client_tls(), timeout=30)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None,
                auth: bool = True) -> tuple[int, dict[str, str], bytes]:
        conn = self.connection()
        sent = dict(headers or {})
        if auth:
            sent.setdefault("Authorization", self.auth)
        conn.request(method, path, body=body, headers=sent)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def session(self) -> dict[str, Any]:
        status, _headers, body = self.request("GET", "/.well-known/jmap")
        assert status == 200, body
        self._session = json.loads(body)
        return self._session

    @property
    def account_id(self) -> str:
        session = self._session or self.session()
        return str(session["primaryAccounts"][MAIL])

    def post(self, request: Any, headers: dict[str, str] | None = None
             ) -> tuple[int, dict[str, str], Any]:
        body = request if isinstance(request, bytes) else json.dumps(request).encode()
        status, got, data = self.request(
            "POST", "/jmap/api/", body,
            {"Content-Type": "application/json", **(headers or {})})
        return status, got, json.loads(data) if data else None

    def calls(self, *method_calls: list[Any], using: tuple[str, ...] = (CORE, MAIL)
              ) -> list[list[Any]]:
        """Run method calls; the methodResponses."""
        status, _headers, body = self.post({"using": list(using),
                                            "methodCalls": list(method_calls)})
        assert status == 200, body
        return list(body["methodResponses"])

    def call(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """One call with this account's id; its response arguments (or the error)."""
        (response,) = self.calls([name, {"accountId": self.account_id, **args}, "c1"])
        return dict(response[1]) if response[0] == name else {"error": response[1]}


def imap_login(srv: ServerThread, user: str) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"), ssl_context=srv.client_tls())
    client.login(user, PASSWORD)
    return client


def append(srv: ServerThread, user: str, message: bytes, mailbox: str = "INBOX",
           flags: str = "") -> None:
    """File a message through IMAP APPEND (a real client)."""
    client = imap_login(srv, user)
    try:
        typ, data = client.append(mailbox, flags or None, None, message)
        assert typ == "OK", data
    finally:
        client.logout()


def message(subject: str, *, sender: str = "Bob <bob@example.test>",
            to: str = "alice@example.test", body: str = "Hello there.\r\n",
            extra: str = "") -> bytes:
    """A small plain-text message."""
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: Thu, 03 Dec 2026 06:00:00 +0100\r\n"
            f"Message-ID: <{abs(hash(subject))}@example.test>\r\n{extra}"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"{body}").encode()
