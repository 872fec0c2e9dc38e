"""A minimal browser-like HTTPS client for the web admin tests: one connection per
request, cookies kept by name, Origin sent on POSTs as a browser sends it."""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

from tests.support.server import PASSWORD, ServerThread

ADMIN = "admin@example.test"


@dataclass
class Answer:
    """One response."""

    status: int
    headers: list[tuple[str, str]]
    body: str

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def cookies_set(self) -> dict[str, str]:
        """Set-Cookie fields by cookie name (the whole field)."""
        return {v.split("=", 1)[0]: v for k, v in self.headers if k.lower() == "set-cookie"}

    def csrf(self) -> str:
        """The CSRF token of the first form on the page."""
        found = re.search(r'name="csrf" value="([^"]+)"', self.body)
        assert found, self.body
        return found.group(1)


@dataclass
class AdminClient:
    """Requests to one server's HTTPS listener."""

    srv: ServerThread
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.srv.port('https')}"

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> Answer:
        conn = http.client.HTTPSConnection("127.0.0.1", self.srv.port("https"),
                                           context=self.srv.client_tls(), timeout=30)
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn.request(method, path, body=body or None, headers=sent)
        resp = conn.getresponse()
        answer = Answer(resp.status, resp.getheaders(), resp.read().decode())
        conn.close()
        for name, field_value in answer.cookies_set().items():
            value = field_value.split(";", 1)[0].split("=", 1)[1]
            if "Max-Age=0" in field_value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return answer

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, fields: dict[str, str], *, origin: str | None = "",
             referer: str | None = None) -> Answer:
        """A form POST; ``origin`` "" sends this server's origin, None sends none."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if origin is not None:
            headers["Origin"] = origin or self.origin
        if referer is not None:
            headers["Referer"] = referer
        return self.request("POST", path, urlencode(fields).encode(), headers)

    def log_in(self, address: str = ADMIN, password: str = PASSWORD) -> Answer:
        token = self.get("/admin/login").csrf()
        return self.post("/admin/login", {"csrf": token, "address": address,
                                          "password": password})


def refuse_loopback(srv: ServerThread) -> None:
    """Record as many failed logins from 127.0.0.1 as the mail login throttle allows
    (auth/throttle.py ThrottlePolicy.max_failures), so the source is refused."""
    services = srv.app.services
    assert services is not None
    authenticator = services.authenticator
    throttle = authenticator._throttle  # the one the authenticator asks

    async def fail() -> None:
        for _ in range(throttle.policy.max_failures):
            throttle.record_failure("127.0.0.1", "someone@example.test")

    srv.call(fail())
    assert authenticator.refused_for("127.0.0.1") > 0
