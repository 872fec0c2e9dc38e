"""The JMAP pages on the HTTPS listener (RFC 8620 2, 3.1, 6, 7.3).

- ``GET /.well-known/jmap``: the session resource (2).
- ``POST /jmap/api/``: the API endpoint (3.1); request-level problems as
  ``application/problem+json`` (3.6.1, RFC 7807).
- ``POST /jmap/login`` (HTTP Basic) -> ``{"accessToken": ...}``; ``DELETE /jmap/login``
  with the bearer token ends it.
- ``GET /jmap/download/{accountId}/{blobId}/{name}?accept={type}`` (6.2).
- ``POST /jmap/upload/{accountId}/`` (6.1): the body becomes a blob (uploads.py).
- ``GET /jmap/eventsource/?types=&closeafter=&ping=`` (7.3; push.py).
- ``GET /jmap/ws/`` upgraded to JMAP over WebSocket (RFC 8887; websocket.py).
Every page needs authentication and HTTPS; a missing or wrong login is 401 with a Basic
challenge (a login that never succeeds gives nothing away about the account). A request
with the webmail's session cookie and no Authorization is that session's user
(browser_auth.py: POSTs also need its CSRF token and this origin; 403 otherwise).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from posthouse.auth.authenticator import Authenticator, Principal
from posthouse.delivery.submit import Submitter
from posthouse.jmap import (  # noqa: F401  (importing registers the methods)
    email_copy,
    email_import,
    email_methods,
    email_parse,
    mailbox_methods,
    submission,
    vacation,
)
from posthouse.jmap.api import JmapApi, account_id_of, session_state
from posthouse.jmap.auth import REALM, JmapAuthBusy, JmapTokens, authenticate, bearer_token
from posthouse.jmap.browser_auth import COOKIE_CHALLENGE, CSRF_HEADER, BrowserLogins, BrowserRefused
from posthouse.jmap.email_import import STORED_BLOB
from posthouse.jmap.email_props import ParsedEmail
from posthouse.jmap.errors import JmapRequestProblem
from posthouse.jmap.limits import (
    CORE,
    MAIL,
    SUBMISSION,
    VACATION,
    WEBSOCKET,
    JmapLimits,
    mail_account_capability,
)
from posthouse.jmap.push import EventSourceFeed
from posthouse.jmap.uploads import UploadArea
from posthouse.jmap.websocket import WEBSOCKET_PATH, JmapWebSocket, handshake
from posthouse.store.api import Store
from posthouse.store.errors import NotFound
from posthouse.web.messages import HttpRequest, HttpResponse
from posthouse.web.routes import HTTPS_ONLY, HttpRoutes

log = logging.getLogger("posthouse.jmap")

SESSION_PATH = "/.well-known/jmap"
API_PATH = "/jmap/api/"
LOGIN_PATH = "/jmap/login"
DOWNLOAD_PREFIX = "/jmap/download/"
UPLOAD_PREFIX = "/jmap/upload/"
EVENTSOURCE_PATH = "/jmap/eventsource/"
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


class JmapPages:
    """The handlers, with what they share: the engine, the tokens, the concurrency count."""

    def __init__(self, store: Store, authenticator: Authenticator, limits: JmapLimits,
                 uploads: UploadArea, submitter: Submitter | None = None,
                 browser: BrowserLogins | None = None) -> None:
        self.store = store
        self.browser = browser
        self.authenticator = authenticator
        self.limits = limits
        self.uploads = uploads
        self.uploading: dict[int, int] = {}
        self.api = JmapApi(store, limits, uploads, submitter)
        self.tokens = JmapTokens()
        self.running: dict[int, int] = {}
        self.feed = EventSourceFeed(store)

    async def _principal(self, request: HttpRequest) -> Principal | HttpResponse:
        by_cookie = self.browser is not None and self.browser.wants_cookie(request)
        try:
            if self.browser is not None and by_cookie:
                principal = await self.browser.principal(request)
            else:
                principal = await authenticate(request, self.authenticator, self.tokens)
        except JmapAuthBusy:
            return HttpResponse.error(503).with_header("Retry-After", "5")
        except BrowserRefused:
            log.warning("jmap: refused a cookie request to %s from %s (origin or CSRF "
                        "token missing or wrong)", request.path, request.peer)
            return HttpResponse.error(403, "refused: not a request of this webmail")
        if principal is None:
            # the web page's own requests get a challenge that opens no browser dialog
            page = by_cookie or request.header(CSRF_HEADER) is not None
            return HttpResponse.error(401).with_header(
                "WWW-Authenticate", COOKIE_CHALLENGE if page else REALM)
        return principal

    def authenticated(self, page: Callable[[HttpRequest, Principal], Awaitable[HttpResponse]]
                      ) -> Callable[[HttpRequest], Awaitable[HttpResponse]]:
        """``page`` behind the login check."""

        async def handler(request: HttpRequest) -> HttpResponse:
            found = await self._principal(request)
            if isinstance(found, HttpResponse):
                return found
            return await page(request, found)

        return handler

    async def session(self, request: HttpRequest, principal: Principal) -> HttpResponse:
        """The session resource (RFC 8620 2)."""
        base = f"https://{_authority(request)}"
        account = account_id_of(principal.user_id)
        body: dict[str, Any] = {
            "capabilities": {CORE: self.limits.core_capability(), MAIL: {}, SUBMISSION: {},
                             VACATION: {},
                             WEBSOCKET: {"url": f"wss://{_authority(request)}{WEBSOCKET_PATH}",
                                         "supportsPush": True}},
            "accounts": {account: {
                "name": principal.address, "isPersonal": True, "isReadOnly": False,
                "accountCapabilities": {
                    CORE: {}, MAIL: mail_account_capability(),
                    # RFC 8621 7: no delayed sending (undoStatus is final at once)
                    SUBMISSION: {"maxDelayedSend": 0, "submissionExtensions": {}},
                    VACATION: {}}}},
            "primaryAccounts": {CORE: account, MAIL: account, SUBMISSION: account,
                                VACATION: account},
            "username": principal.address,
            "apiUrl": base + API_PATH,
            "downloadUrl": base + DOWNLOAD_PREFIX + "{accountId}/{blobId}/{name}?accept={type}",
            "uploadUrl": base + UPLOAD_PREFIX + "{accountId}/",
            "eventSourceUrl": base + EVENTSOURCE_PATH
            + "?types={types}&closeafter={closeafter}&ping={ping}",
            "state": session_state(principal.user_id),
        }
        return HttpResponse.json(body).with_header("Cache-Control", "no-cache, no-store")

    async def call(self, request: HttpRequest, principal: Principal) -> HttpResponse:
        """The API endpoint (RFC 8620 3.1): limits before anything runs."""
        content_type = (request.header("content-type") or "").partition(";")[0].strip()
        try:
            if content_type and content_type.lower() != "application/json":
                raise JmapRequestProblem("notJSON", "Content-Type must be application/json")
            if self.running.get(principal.user_id, 0) >= self.limits.max_concurrent_requests:
                raise JmapRequestProblem("limit", "too many concurrent requests",
                                         limit="maxConcurrentRequests")
            parsed = self.api.parse(request.body)
        except JmapRequestProblem as problem:
            return _problem(problem)
        self.running[principal.user_id] = self.running.get(principal.user_id, 0) + 1
        try:
            result = await self.api.run(parsed, principal.user_id, principal.address,
                                        origin=object(), peer=request.peer)
        finally:
            left = self.running[principal.user_id] - 1
            if left:
                self.running[principal.user_id] = left
            else:
                del self.running[principal.user_id]
        return HttpResponse.json(result).with_header("Cache-Control", "no-store")

    async def login(self, request: HttpRequest, principal: Principal) -> HttpResponse:
        """A bearer token for the Basic login (POST), or the token ended (DELETE)."""
        if request.method == "DELETE":
            token = bearer_token(request)
            if token is not None:
                self.tokens.revoke(token)
            return HttpResponse(204)
        token = self.tokens.issue(principal)
        return HttpResponse.json({"accessToken": token, "tokenType": "Bearer",
                                  "expiresIn": self.tokens.lifetime,
                                  "session": SESSION_PATH}).with_header(
            "Cache-Control", "no-store")

    async def download(self, request: HttpRequest, principal: Principal) -> HttpResponse:
        """A blob of the account (RFC 8620 6.2): a whole message or one decoded part."""
        pieces = request.path[len(DOWNLOAD_PREFIX):].split("/")
        if len(pieces) != 3 or pieces[0] != account_id_of(principal.user_id):
            return HttpResponse.error(404)
        content_type = request.param("accept") or "application/octet-stream"
        if not re.match(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$", content_type):
            content_type = "application/octet-stream"
        found = STORED_BLOB.match(pieces[1])
        if found is None:
            uploaded = await self.uploads.get(principal.user_id, pieces[1])
            if uploaded is None:
                return HttpResponse.error(404)
            return _blob_response(uploaded, content_type, pieces[2])
        view = await self.api.views.current(principal.user_id)
        if not any(r.blob_id == found[1] for r in view.emails.values()):
            return HttpResponse.error(404)  # not this account's (or gone)
        try:
            data = await self.store.read_blob(found[1])
        except NotFound:
            return HttpResponse.error(404)
        if found[2] is not None:
            part = ParsedEmail(data, found[1]).part_bytes(found[2].replace("_", "."))
            if part is None:
                return HttpResponse.error(404)
            data = part
        return _blob_response(data, content_type, pieces[2])

    async def upload(self, request: HttpRequest, principal: Principal) -> HttpResponse:
        """Keep the body as a blob of the account (RFC 8620 6.1)."""
        pieces = request.path[len(UPLOAD_PREFIX):].strip("/").split("/")
        if pieces != [account_id_of(principal.user_id)]:
            return HttpResponse.error(404)
        user = principal.user_id
        if len(request.body) > self.limits.max_size_upload:
            return _problem(JmapRequestProblem("limit", "larger than maxSizeUpload",
                                               limit="maxSizeUpload"))
        if self.uploading.get(user, 0) >= self.limits.max_concurrent_upload:
            return _problem(JmapRequestProblem("limit", "too many concurrent uploads",
                                               limit="maxConcurrentUpload"))
        self.uploading[user] = self.uploading.get(user, 0) + 1
        try:
            blob_id = await self.uploads.put(user, request.body)
        finally:
            self.uploading[user] -= 1
            if not self.uploading[user]:
                del self.uploading[user]
        content_type = request.header("content-type") or "application/octet-stream"
        return HttpResponse.json({"accountId": account_id_of(user), "blobId": blob_id,
                                  "type": content_type.strip(), "size": len(request.body)},
                                 status=201)

    async def websocket(self, request: HttpRequest, principal: Principal) -> HttpResponse:
        """The WebSocket upgrade (RFC 8887 4.1)."""
        socket = JmapWebSocket(self.api, self.store, principal.user_id, principal.address)
        return handshake(request, socket.run)

    async def eventsource(self, request: HttpRequest, principal: Principal) -> HttpResponse:
        """The push stream (RFC 8620 7.3)."""
        return await self.feed.open(request, principal.user_id)


def _blob_response(data: bytes, content_type: str, name: str) -> HttpResponse:
    quoted = quote(name, safe="")
    return HttpResponse(200, data, [
        ("Content-Type", content_type),
        ("Content-Disposition", f"attachment; filename*=UTF-8''{quoted}"),
        ("Cache-Control", "private, immutable, max-age=31536000")])


def _authority(request: HttpRequest) -> str:
    host = request.header("host") or ""
    return host if _HOST.match(host) else request.host or "localhost"


def _problem(problem: JmapRequestProblem) -> HttpResponse:
    return HttpResponse(problem.status, json.dumps(problem.document()).encode(),
                        [("Content-Type", "application/problem+json")])


def register(routes: HttpRoutes, store: Store, authenticator: Authenticator,
             limits: JmapLimits, uploads: UploadArea,
             submitter: Submitter | None = None,
             browser: BrowserLogins | None = None) -> JmapPages:
    """Add the JMAP pages (HTTPS only); without a submitter, EmailSubmission is not
    offered; with ``browser``, the webmail's session cookie is a login too."""
    pages = JmapPages(store, authenticator, limits, uploads, submitter, browser)
    routes.add("GET", SESSION_PATH, pages.authenticated(pages.session), schemes=HTTPS_ONLY)
    routes.add("POST", API_PATH, pages.authenticated(pages.call), schemes=HTTPS_ONLY)
    routes.add("POST", API_PATH.rstrip("/"), pages.authenticated(pages.call),
               schemes=HTTPS_ONLY)
    routes.add(("POST", "DELETE"), LOGIN_PATH, pages.authenticated(pages.login),
               schemes=HTTPS_ONLY)
    routes.add("GET", DOWNLOAD_PREFIX, pages.authenticated(pages.download), prefix=True,
               schemes=HTTPS_ONLY)
    routes.add("POST", UPLOAD_PREFIX, pages.authenticated(pages.upload), prefix=True,
               schemes=HTTPS_ONLY)
    routes.add("GET", WEBSOCKET_PATH, pages.authenticated(pages.websocket), schemes=HTTPS_ONLY)
    routes.add("GET", EVENTSOURCE_PATH, pages.authenticated(pages.eventsource),
               schemes=HTTPS_ONLY)
    return pages
