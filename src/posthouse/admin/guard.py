"""Who may use the web admin, and the headers every admin page carries.

- Sessions: the ``__Host-`` cookie (RFC 6265bis 4.1.3.2: Secure, Path=/, no Domain, so no
  other host or plain-HTTP page can set it) holds a session id of ``AdminSessions``; it is
  Secure, HttpOnly and SameSite=Strict, and has no Max-Age (gone with the browser).
- Every POST must come from this origin. The Origin header (RFC 6454 7), when it names
  one, must be exactly ``https://<Host>``. Our pages' ``Referrer-Policy: no-referrer``
  makes browsers send ``Origin: null`` on their own form POSTs (Fetch, "serializing a
  request origin"), so then the Fetch Metadata header ``Sec-Fetch-Site`` (set by the
  browser, never by a page) must say ``same-origin``; a client sending neither must send
  a Referer starting with our origin; with none of them the POST is refused. A
  ``Sec-Fetch-Site`` other than same-origin is refused whatever else is sent. Then the
  session's CSRF token must be in the form. The login form (no session yet) carries a
  token that must match a short-lived ``__Host-`` cookie instead (double submit), so no
  other site can log a browser in.
- The page headers: a Content-Security-Policy that allows only this origin's stylesheet
  and images, no script at all, no framing, forms posting only here; plus X-Frame-Options,
  nosniff, no referrer and no caching.
Never does IO beyond the request it is given.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

from posthouse.admin.sessions import AdminSession, AdminSessions
from posthouse.web.messages import HttpRequest, HttpResponse

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
    names = {name.lower() for name, _ in PAGE_HEADERS}
    response.headers = [(k, v) for k, v in response.headers if k.lower() not in names]
    response.headers.extend(PAGE_HEADERS)
    return response


def same_origin(request: HttpRequest) -> bool:
    """Whether a POST comes from a page of this origin (see the module docstring)."""
    host = (request.header("host") or "").strip().lower()
    if not host or not request.is_tls:
        return False
    origin = f"https://{host}"
    fetch_site = request.header("sec-fetch-site")
    if fetch_site is not None and fetch_site.strip().lower() != "same-origin":
        return False
    sent = request.header("origin")
    if sent is not None and sent.strip().lower() != "null":
        return sent.strip().lower() == origin
    if fetch_site is not None:  # same-origin, said by the browser itself
        return True
    if sent is not None:  # "null" from a client that sends no Fetch Metadata
        return False
    referer = request.header("referer")
    return referer is not None and referer.lower().startswith(origin + "/")


def form(request: HttpRequest) -> dict[str, str]:
    """The first value of each field of an urlencoded POST body ({} for another body)."""
    return {name: values[0] for name, values in request.form().items() if values}


class AdminGuard:
    """Session lookup and the checks every request passes."""

    def __init__(self, sessions: AdminSessions, networks: list[str] | None = None) -> None:
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

    def session(self, request: HttpRequest) -> AdminSession | None:
        """The live session of the request's cookie, over TLS only."""
        if not request.is_tls:
            return None
        return self.sessions.get(request.cookies().get(SESSION_COOKIE))

    def post_allowed(self, request: HttpRequest, fields: dict[str, str],
                     session: AdminSession | None) -> bool:
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

    def end(self, response: HttpResponse, session: AdminSession) -> HttpResponse:
        """Log out: the session is forgotten and the cookie deleted."""
        self.sessions.end(session.id)
        return response.set_cookie(SESSION_COOKIE, "", max_age=0)
