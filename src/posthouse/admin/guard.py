"""Who may use the web admin, and the headers every admin page carries.

- Sessions: the ``__Host-`` cookie (RFC 6265bis 4.1.3.2: Secure, Path=/, no Domain, so no
  other host or plain-HTTP page can set it) holds a session id of ``web/sessions.py
  WebSessions``; it is Secure, HttpOnly and SameSite=Strict, and has no Max-Age (gone with
  the browser).
- Every POST must come from this origin (``web/origin.py same_origin``: Origin, else Fetch
  Metadata, else Referer). Then the session's CSRF token must be in the form. The login
  form (no session yet) carries a token that must match a short-lived ``__Host-`` cookie
  instead (double submit), so no other site can log a browser in.
- The page headers: a Content-Security-Policy that allows only this origin's stylesheet
  and images, no script at all, no framing, forms posting only here; plus X-Frame-Options,
  nosniff, no referrer and no caching.
Never does IO beyond the request it is given.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

from posthouse.web.messages import HttpRequest, HttpResponse
from posthouse.web.origin import same_origin
from posthouse.web.sessions import WebSession, WebSessions

SESSION_COOKIE = "__Host-posthouse-admin"
LOGIN_COOKIE = "__Host-posthouse-login"
LOGIN_COOKIE_SECONDS = 3600
CSRF_FIELD = "csrf"

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
PAGE_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)


def secured(response: HttpResponse) -> HttpResponse:
    """The response with every admin page header (replacing any of the same name)."""
    return response.replace_headers(PAGE_HEADERS)


def form(request: HttpRequest) -> dict[str, str]:
    """The first value of each field of an urlencoded POST body ({} for another body)."""
    return {name: values[0] for name, values in request.form().items() if values}


class AdminGuard:
    """Session lookup and the checks every request passes."""

    def __init__(self, sessions: WebSessions, networks: list[str] | None = None) -> None:
        self.sessions = sessions
        self.networks = [ipaddress.ip_network(n, strict=False)
                         for n in (networks or ["0.0.0.0/0", "::/0"])]

    def reachable(self, request: HttpRequest) -> bool:
        """Whether the client's address is in ``[http] admin_networks``."""
        try:
            addr = ipaddress.ip_address(request.peer.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.networks)

    def session(self, request: HttpRequest) -> WebSession | None:
        """The live session of the request's cookie, over TLS only."""
        if not request.is_tls:
            return None
        return self.sessions.get(request.cookies().get(SESSION_COOKIE))

    def post_allowed(self, request: HttpRequest, fields: dict[str, str],
                     session: WebSession | None) -> bool:
        """A state-changing request: same origin, a session, its CSRF token."""
        return (same_origin(request) and session is not None
                and session.csrf_matches(fields.get(CSRF_FIELD)))

    @staticmethod
    def login_token(request: HttpRequest) -> tuple[str, bool]:
        """The login form's token: the one of the browser's login cookie, or a new one
        (True: the cookie must be set)."""
        current = request.cookies().get(LOGIN_COOKIE)
        if current and 20 <= len(current) <= 100 and current.replace("-", "").replace(
                "_", "").isalnum():
            return current, False
        return secrets.token_urlsafe(32), True

    @staticmethod
    def login_post_allowed(request: HttpRequest, fields: dict[str, str]) -> bool:
        """The login POST: same origin, and the form's token equal to the login cookie."""
        cookie = request.cookies().get(LOGIN_COOKIE)
        sent = fields.get(CSRF_FIELD)
        return (same_origin(request) and bool(cookie) and sent is not None
                and hmac.compare_digest(sent.encode(), (cookie or "").encode()))

    def start(self, response: HttpResponse, address: str) -> HttpResponse:
        """Log in: a new session and its cookie; the login cookie goes."""
        session = self.sessions.create(address)
        response.set_cookie(SESSION_COOKIE, session.id)
        return response.set_cookie(LOGIN_COOKIE, "", max_age=0)

    def end(self, response: HttpResponse, session: WebSession) -> HttpResponse:
        """Log out: the session is forgotten and the cookie deleted."""
        self.sessions.end(session.id)
        return response.set_cookie(SESSION_COOKIE, "", max_age=0)
