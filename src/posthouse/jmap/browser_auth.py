"""JMAP for a logged-in browser: the webmail's session cookie as a JMAP credential.

The webmail (``webmail/``) logs a user in through the one Authenticator and keeps a
``web/sessions.py WebSession`` named by the ``__Host-`` cookie ``SESSION_COOKIE``. A JMAP
request carrying that cookie (and no Authorization field) is that session's user, if the
account still exists and is enabled. Because a browser attaches cookies by itself:
- a POST (API calls, uploads) must also pass ``web/origin.py same_origin`` and carry the
  session's CSRF token in ``CSRF_HEADER``, which only a page of this origin can read
  (``GET /mail/session``);
- a WebSocket handshake (a GET that browsers send across origins) must carry an Origin
  of this host (RFC 6455 10.2);
- other GETs (session resource, download, event source) change nothing, and the cookie's
  SameSite=Strict keeps them from other sites.
Never does IO beyond one account lookup per request.
"""

from __future__ import annotations

from posthouse.auth.authenticator import Principal
from posthouse.store.api import Store
from posthouse.store.models import User
from posthouse.web.messages import HttpRequest
from posthouse.web.origin import origin_matches, same_origin
from posthouse.web.sessions import WebSession, WebSessions

SESSION_COOKIE = "__Host-posthouse-mail"
CSRF_HEADER = "X-Posthouse-CSRF"
# The challenge of a 401 to the web page's own requests: not Basic, so that the browser
# shows no password dialog of its own (RFC 9110 11.6.1 lets the scheme be any token).
COOKIE_CHALLENGE = 'Posthouse-Session realm="posthouse webmail"'


class BrowserRefused(Exception):
    """A cookie request that failed the origin or CSRF check: 403."""


class BrowserLogins:
    """The webmail's sessions, as the JMAP pages check them."""

    def __init__(self, sessions: WebSessions, store: Store) -> None:
        self.sessions = sessions
        self.store = store

    @staticmethod
    def wants_cookie(request: HttpRequest) -> bool:
        """Whether the request is a cookie request (no Authorization, the cookie sent)."""
        return (request.header("authorization") is None
                and SESSION_COOKIE in request.cookies())

    def session(self, request: HttpRequest) -> WebSession | None:
        """The live session of the request's cookie, over TLS only."""
        if not request.is_tls:
            return None
        return self.sessions.get(request.cookies().get(SESSION_COOKIE))

    async def live_session(self, request: HttpRequest) -> tuple[WebSession, User] | None:
        """The cookie's session and its account, if that still exists and is enabled (else
        the account's sessions end)."""
        session = self.session(request)
        if session is None:
            return None
        user = await self.store.get_user_by_id(session.user_id)
        if user is None or user.disabled or user.address != session.address:
            self.sessions.end_all_of(session.address)
            return None
        return session, user

    async def principal(self, request: HttpRequest) -> Principal | None:
        """The session's user, or None (see ``live_session``); BrowserRefused when the
        origin or CSRF check fails."""
        found = await self.live_session(request)
        if found is None:
            return None
        session, user = found
        if request.method == "POST":
            if not (same_origin(request)
                    and session.csrf_matches(request.header(CSRF_HEADER))):
                raise BrowserRefused
        elif ((request.header("upgrade") or "").lower() == "websocket"
              and not origin_matches(request)):
            raise BrowserRefused
        return Principal(user.id, user.address, user.role)
