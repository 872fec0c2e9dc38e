"""The webmail's pages at /mail (HTTPS only): the app, its login and logout, the session
facts the app needs, and the reader's framed HTML view of a message.

- ``GET /mail``: the single-page app (``static/index.html``; scripts, styles and icons
  under ``/mail/static/``) with a CSP that allows only this origin's files, no inline code.
- ``POST /mail/login`` (JSON or form: address, password), same origin only: the one
  Authenticator decides (argon2, login cache, per-IP and per-account throttle), then a
  ``web/sessions.py WebSession`` named by the ``__Host-`` cookie of
  ``jmap/browser_auth.py``; JSON answers carry the CSRF token, a form gets a redirect.
- ``POST /mail/logout``: same origin and the CSRF token (header or form field).
- ``GET /mail/session``: ``{address, csrf, jmapSession}`` for a logged-in browser, else 401.
  The app then speaks JMAP at the usual endpoints with the cookie (browser_auth.py).
- ``GET /mail/render/{emailId}?images=0|1``: the HTML body as a complete sandboxed
  document (render.py), with ``X-Posthouse-Blocked-Images`` and, for a body clipped for
  its size, ``X-Posthouse-Clipped: 1`` (the app asks with HEAD and links the original);
  404 for an id that is not the session's account's.
Never builds its collaborators; app.py hands them over.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from posthouse.auth.authenticator import Authenticator
from posthouse.auth.scheduler import HashBusy
from posthouse.jmap.browser_auth import CSRF_HEADER, SESSION_COOKIE, BrowserLogins
from posthouse.jmap.email_props import ParsedEmail
from posthouse.jmap.routes import SESSION_PATH, JmapPages
from posthouse.store.errors import NotFound
from posthouse.web.messages import HttpRequest, HttpResponse
from posthouse.web.origin import same_origin
from posthouse.web.routes import HTTPS_ONLY, HttpRoutes
from posthouse.web.sessions import WebSession
from posthouse.web.static import register_static
from posthouse.webmail.render import render_mail

log = logging.getLogger("posthouse.webmail")

APP_PATH = "/mail"
STATIC_PREFIX = "/mail/static/"
STATIC_DIR = Path(__file__).parent / "static"
RENDER_PREFIX = "/mail/render/"
BLOCKED_HEADER = "X-Posthouse-Blocked-Images"
CLIPPED_HEADER = "X-Posthouse-Clipped"
_EMAIL_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
PAGE_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)

SessionPage = Callable[[HttpRequest, WebSession], Awaitable[HttpResponse]]


def _fields(request: HttpRequest) -> dict[str, str]:
    """A JSON object's string members, or the urlencoded form's first values."""
    kind = (request.header("content-type") or "").partition(";")[0].strip().lower()
    if kind == "application/json":
        try:
            value = json.loads(request.body)
        except ValueError:
            return {}
        if not isinstance(value, dict):
            return {}
        return {k: v for k, v in value.items() if isinstance(v, str)}
    return {name: values[0] for name, values in request.form().items() if values}


class WebmailSite:
    """The handlers, sharing the browser logins and the JMAP engine's account views."""

    def __init__(self, authenticator: Authenticator, browser: BrowserLogins,
                 jmap: JmapPages) -> None:
        self.authenticator = authenticator
        self.browser = browser
        self.jmap = jmap

    def register(self, routes: HttpRoutes) -> None:
        """Add the webmail's routes (HTTPS only)."""
        routes.add("GET", APP_PATH, self.app_page, schemes=HTTPS_ONLY)
        routes.add("GET", APP_PATH + "/", self.app_page, schemes=HTTPS_ONLY)
        routes.add("POST", APP_PATH + "/login", self.login, schemes=HTTPS_ONLY)
        routes.add("POST", APP_PATH + "/logout", self.logout, schemes=HTTPS_ONLY)
        routes.add("GET", APP_PATH + "/session", self._with_session(self.session_facts),
                   schemes=HTTPS_ONLY)
        routes.add("GET", RENDER_PREFIX, self._with_session(self.render), prefix=True,
                   schemes=HTTPS_ONLY)
        register_static(routes, STATIC_PREFIX, STATIC_DIR, schemes=HTTPS_ONLY, max_age=60)

    def _with_session(self, page: SessionPage) -> Callable[[HttpRequest],
                                                            Awaitable[HttpResponse]]:
        async def handler(request: HttpRequest) -> HttpResponse:
            found = await self.browser.live_session(request)
            if found is None:
                return HttpResponse.error(401).replace_headers(PAGE_HEADERS)
            return await page(request, found[0])

        return handler

    async def app_page(self, request: HttpRequest) -> HttpResponse:
        """The single-page app; it asks /mail/session whether it is logged in."""
        body = await asyncio.to_thread((STATIC_DIR / "index.html").read_bytes)
        return HttpResponse(200, body, [("Content-Type", "text/html; charset=utf-8")]
                            ).replace_headers(PAGE_HEADERS)

    async def login(self, request: HttpRequest) -> HttpResponse:
        """Check the credentials as a mail login would, and start a session."""
        fields = _fields(request)
        as_json = "application/json" in (request.header("content-type") or "")
        if not same_origin(request):
            return HttpResponse.error(403, "refused: not a login of this webmail")
        refused = self.authenticator.refused_for(request.peer)
        if refused > 0:
            return _login_failed(as_json, 429, "Too many failed logins from your address: "
                                 f"try again in {int(refused // 60) + 1} minutes.")
        try:
            principal = await self.authenticator.authenticate(
                fields.get("address", ""), fields.get("password", ""), remote_ip=request.peer)
        except HashBusy:
            return _login_failed(as_json, 503, "The server is busy: try again in a moment.")
        if principal is None:
            return _login_failed(as_json, 401, "Wrong address or password.")
        session = self.browser.sessions.create(principal.address, principal.user_id)
        log.info("webmail: %s logged in from %s", principal.address, request.peer)
        response = (HttpResponse.json(self._facts(session)) if as_json
                    else HttpResponse.redirect(APP_PATH, 303))
        return response.set_cookie(SESSION_COOKIE, session.id).replace_headers(PAGE_HEADERS)

    async def logout(self, request: HttpRequest) -> HttpResponse:
        """End the session (forgotten server-side) and delete the cookie."""
        session = self.browser.session(request)
        token = request.header(CSRF_HEADER) or _fields(request).get("csrf")
        if session is None or not same_origin(request) or not session.csrf_matches(token):
            return HttpResponse.error(403, "refused: not a logout of this webmail")
        self.browser.sessions.end(session.id)
        log.info("webmail: %s logged out", session.address)
        return HttpResponse(204).set_cookie(SESSION_COOKIE, "", max_age=0).replace_headers(
            PAGE_HEADERS)

    async def session_facts(self, request: HttpRequest, session: WebSession) -> HttpResponse:
        """What the app needs: who, the CSRF token, where JMAP's session resource is."""
        return HttpResponse.json(self._facts(session)).replace_headers(PAGE_HEADERS)

    @staticmethod
    def _facts(session: WebSession) -> dict[str, str]:
        return {"address": session.address, "csrf": session.csrf, "jmapSession": SESSION_PATH}

    async def render(self, request: HttpRequest, session: WebSession) -> HttpResponse:
        """The message's HTML body as a sandboxed document (module docstring)."""
        email_id = request.path[len(RENDER_PREFIX):]
        if not _EMAIL_ID.match(email_id):
            return HttpResponse.error(404)
        view = await self.jmap.api.views.current(session.user_id)
        record = view.emails.get(email_id)
        if record is None:
            return HttpResponse.error(404)  # not this account's (or gone)
        try:
            data = await self.jmap.store.read_blob(record.blob_id)
        except NotFound:
            return HttpResponse.error(404)
        remote = request.param("images") == "1"
        rendered = await asyncio.to_thread(
            lambda: render_mail(ParsedEmail(data, record.blob_id), remote_images=remote))
        return HttpResponse.text(rendered.document, content_type="text/html").replace_headers((
            ("Content-Security-Policy", rendered.policy),
            ("X-Frame-Options", "SAMEORIGIN"),
            ("Cross-Origin-Resource-Policy", "same-origin"),
            ("Referrer-Policy", "no-referrer"),
            ("Cache-Control", "private, no-cache"),
            (BLOCKED_HEADER, str(rendered.blocked_remote_images)),
            (CLIPPED_HEADER, "1" if rendered.clipped else "0")))


def _login_failed(as_json: bool, status: int, message: str) -> HttpResponse:
    response = (HttpResponse.json({"error": message}, status) if as_json
                else HttpResponse.error(status, message))
    return response.replace_headers(PAGE_HEADERS)


def register(routes: HttpRoutes, authenticator: Authenticator, browser: BrowserLogins,
             jmap: JmapPages) -> WebmailSite:
    """Add the webmail's pages; ``browser`` is the one the JMAP pages were given."""
    site = WebmailSite(authenticator, browser, jmap)
    site.register(routes)
    return site
