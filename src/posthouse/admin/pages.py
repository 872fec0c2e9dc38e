"""The web admin at https://<host>/admin: its routes and handlers.

Every page needs an admin session (guard.py); every POST passes the origin and CSRF checks
first, then does exactly what the matching CLI command does, through the same function of
admin/operations.py, and redirects (303) to a page that shows the outcome once. The login
goes through the one Authenticator (argon2, the verification cache, the per-IP and
per-account throttle of mail logins); only accounts with the admin role that are not
disabled get a session, and each request checks that this is still so. HTTPS only: the
routes do not exist on the plain-HTTP listener.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from posthouse.admin import dnscheck, operations, views
from posthouse.admin.guard import (
    LOGIN_COOKIE,
    LOGIN_COOKIE_SECONDS,
    AdminGuard,
    form,
    secured,
)
from posthouse.admin.html import Html
from posthouse.auth.authenticator import Authenticator
from posthouse.auth.passwords import PasswordHasher
from posthouse.auth.scheduler import HashBusy
from posthouse.clock import Clock
from posthouse.config import Config
from posthouse.dns.resolver import Resolver
from posthouse.store.api import Store
from posthouse.store.errors import StoreError
from posthouse.web.messages import Handler, HttpRequest, HttpResponse
from posthouse.web.routes import HTTPS_ONLY, HttpRoutes
from posthouse.web.sessions import WebSession, WebSessions
from posthouse.web.static import register_static

log = logging.getLogger("posthouse.admin")

LOG_LINES = 200
STATIC_PREFIX = "/admin/static/"
STATIC_DIR = Path(__file__).resolve().parent / "static"  # package data (pyproject.toml)


@dataclass(frozen=True)
class ServerFacts:
    """What the status page shows of the running server."""

    started: datetime
    uptime: float  # seconds
    listeners: list[tuple[str, str]]  # (listener name, host:port)
    store_bytes: int


@dataclass(frozen=True)
class AdminContext:
    """What the web admin needs of the App (built in app.py)."""

    config: Config
    store: Store
    authenticator: Authenticator
    hasher: PasswordHasher
    resolver: Resolver
    clock: Clock
    wake_queue: Callable[[], None]
    facts: Callable[[], Awaitable[ServerFacts]]
    log_lines: Callable[[int], list[str]]
    # `posthouse tlsrpt send`: queue the due TLS-RPT reports; None when [queue] tlsrpt is off
    send_tls_reports: Callable[[bool], Awaitable[list[int]]] | None = None


Page = Callable[[HttpRequest, WebSession], Awaitable[HttpResponse]]
Action = Callable[[dict[str, str], WebSession], Awaitable[str]]


def html_response(body: Html, status: int = 200) -> HttpResponse:
    """An HTML page with the admin headers."""
    return secured(HttpResponse(status, body.encode(),
                                [("Content-Type", "text/html; charset=utf-8")]))


def see_other(location: str) -> HttpResponse:
    """303 to a page after a POST (the browser then GETs it)."""
    return secured(HttpResponse.redirect(location, 303))


class AdminSite:
    """The handlers, sharing the context, the sessions and the static files."""

    def __init__(self, ctx: AdminContext, sessions: WebSessions | None = None) -> None:
        self.ctx = ctx
        self.guard = AdminGuard(sessions or WebSessions(ctx.clock),
                                ctx.config.http.admin_networks)

    def register(self, routes: HttpRoutes) -> None:
        """Add every admin route (HTTPS only)."""

        def add(method: str, path: str, handler: Handler, **options: Any) -> None:
            routes.add(method, path, self._reachable(handler), **options)

        add("GET", "/admin", self.home, schemes=HTTPS_ONLY)
        add("GET", "/admin/", self.home, schemes=HTTPS_ONLY)
        add("GET", "/admin/login", self.login_page, schemes=HTTPS_ONLY)
        add("POST", "/admin/login", self.login, schemes=HTTPS_ONLY)
        add("POST", "/admin/logout", self.logout, schemes=HTTPS_ONLY)
        # The stylesheet, from the package: no session needed (the login page uses it) and
        # public (admin_networks does not hide it: it holds nothing of this server).
        register_static(routes, STATIC_PREFIX, STATIC_DIR, schemes=HTTPS_ONLY, max_age=300)
        for path, page in (("/admin/status", self.status), ("/admin/domains", self.domains),
                           ("/admin/dns", self.dns), ("/admin/users", self.users),
                           ("/admin/user", self.user), ("/admin/aliases", self.aliases),
                           ("/admin/queue", self.queue), ("/admin/queue/show", self.queued),
                           ("/admin/logs", self.logs)):
            add("GET", path, self._page(page), schemes=HTTPS_ONLY)
        for path, action, back in self._actions():
            add("POST", path, self._action(action, back), schemes=HTTPS_ONLY)

    # --- the gates ---------------------------------------------------------------------

    def _reachable(self, handler: Handler) -> Handler:
        async def guarded(request: HttpRequest) -> HttpResponse:
            if not self.guard.reachable(request):
                return HttpResponse.error(404)  # [http] admin_networks: nothing is here
            return await handler(request)

        return guarded

    async def _admin_session(self, request: HttpRequest) -> WebSession | None:
        """The session, if its account is still an enabled admin (else it ends)."""
        session = self.guard.session(request)
        if session is None:
            return None
        user = await self.ctx.store.get_user(session.address)
        if user is None or user.role != "admin" or user.disabled:
            self.guard.sessions.end_all_of(session.address)
            return None
        return session

    def _page(self, page: Page) -> Handler:
        async def handler(request: HttpRequest) -> HttpResponse:
            session = await self._admin_session(request)
            if session is None:
                return see_other("/admin/login")
            return await page(request, session)

        return handler

    def _action(self, action: Action, back: Callable[[dict[str, str]], str]) -> Handler:
        async def handler(request: HttpRequest) -> HttpResponse:
            fields = form(request)
            session = await self._admin_session(request)
            if not self.guard.post_allowed(request, fields, session):
                log.warning("admin: refused a POST to %s from %s (origin, session or CSRF "
                            "token missing or wrong)", request.path, request.peer)
                return secured(HttpResponse.error(403, "refused: not a form of this admin"))
            assert session is not None
            try:
                done = await action(fields, session)
            except (operations.AdminError, StoreError, ValueError) as exc:
                session.notices.append(f"error: {exc}")
            else:
                session.notices.append(done)
                log.info("admin: %s by %s: %s", request.path, session.address, done)
            return see_other(back(fields))

        return handler

    def _view(self, session: WebSession, title: str, content: Html, current: str,
              status: int = 200) -> HttpResponse:
        notices = [n for n in session.notices if not n.startswith("error: ")]
        errors = [n.removeprefix("error: ") for n in session.notices if n.startswith("error: ")]
        session.notices.clear()
        return html_response(views.page(title, content, current=current,
                                        address=session.address, csrf=session.csrf,
                                        notices=notices, errors=errors), status)

    # --- login and out -----------------------------------------------------------------

    async def home(self, request: HttpRequest) -> HttpResponse:
        """/admin: the status page, or the login."""
        session = await self._admin_session(request)
        return see_other("/admin/status" if session else "/admin/login")

    async def login_page(self, request: HttpRequest, *, error: str = "",
                         status: int = 200) -> HttpResponse:
        """The login form, with its token in a short-lived cookie."""
        if not error and await self._admin_session(request) is not None:
            return see_other("/admin/status")
        token, new = self.guard.login_token(request)
        response = html_response(views.login(token, error=error), status)
        if new:
            response.set_cookie(LOGIN_COOKIE, token, max_age=LOGIN_COOKIE_SECONDS)
        return response

    async def login(self, request: HttpRequest) -> HttpResponse:
        """Check the credentials as a mail login would, and start a session."""
        fields = form(request)
        if not self.guard.login_post_allowed(request, fields):
            return secured(HttpResponse.error(403, "refused: not the login form of this admin"))
        refused = self.ctx.authenticator.refused_for(request.peer)
        if refused > 0:
            minutes = int(refused // 60) + 1
            return await self.login_page(
                request, status=429,
                error=f"Too many failed logins from your address: try again in {minutes} "
                      "minutes.")
        address = fields.get("address", "")
        try:
            principal = await self.ctx.authenticator.authenticate(
                address, fields.get("password", ""), remote_ip=request.peer)
        except HashBusy:
            return await self.login_page(request, status=503,
                                         error="The server is busy: try again in a moment.")
        if principal is None or principal.role != "admin":
            # Nothing tells a wrong password from an account that is not an admin.
            return await self.login_page(request, status=401,
                                         error="Wrong address or password, or not an admin.")
        log.info("admin: %s logged in from %s", principal.address, request.peer)
        return self.guard.start(see_other("/admin/status"), principal.address)

    async def logout(self, request: HttpRequest) -> HttpResponse:
        """End the session (it is forgotten server-side) and delete the cookie."""
        fields = form(request)
        session = await self._admin_session(request)
        if not self.guard.post_allowed(request, fields, session):
            return secured(HttpResponse.error(403, "refused: not a form of this admin"))
        assert session is not None
        log.info("admin: %s logged out", session.address)
        return self.guard.end(see_other("/admin/login"), session)

    # --- pages -------------------------------------------------------------------------

    async def status(self, request: HttpRequest, session: WebSession) -> HttpResponse:
        """Uptime, listeners, store size, store and queue figures."""
        facts = await self.ctx.facts()
        figures = await operations.store_figures(self.ctx.store)
        content = views.status(
            hostname=self.ctx.config.server.hostname, started=facts.started,
            uptime=facts.uptime, listeners=facts.listeners,
            data_dir=str(self.ctx.config.data_path), store_bytes=facts.store_bytes,
            figures=figures, entries=await operations.server_entries(self.ctx.store),
            tls_reports=self.ctx.send_tls_reports is not None, csrf=session.csrf)
        return self._view(session, "Server status", content, "status")

    async def domains(self, request: HttpRequest, session: WebSession) -> HttpResponse:
        """The local domains."""
        names = await self.ctx.store.list_domains()
        counts: dict[str, int] = {}
        for u in await self.ctx.store.list_users():
            domain = u.address.rpartition("@")[2]
            counts[domain] = counts.get(domain, 0) + 1
        return self._view(session, "Domains", views.domains(names, counts, session.csrf),
                          "domains")

    async def dns(self, request: HttpRequest, session: WebSession) -> HttpResponse:
        """The records to publish for a domain, and what DNS says now."""
        try:
            domain = operations.domain_name(request.param("domain") or "")
        except operations.AdminError as exc:
            session.notices.append(f"error: {exc}")
            return see_other("/admin/domains")
        lines = await asyncio.to_thread(operations.domain_dns_records, self.ctx.config, domain)
        checks = await dnscheck.check_records(self.ctx.resolver,
                                              self.ctx.config.server.hostname, lines)
        comments = [line for line in lines if line.startswith(";")]
        return self._view(session, f"DNS records of {domain}",
                          views.dns(domain, checks, comments), "domains")

    async def users(self, request: HttpRequest, session: WebSession) -> HttpResponse:
        """The accounts."""
        rows = await operations.list_accounts(self.ctx.store)
        domains = await self.ctx.store.list_domains()
        return self._view(session, "Accounts", views.users(rows, domains, session.csrf),
                          "users")

    async def user(self, request: HttpRequest, session: WebSession) -> HttpResponse:
        """One account."""
        try:
            row = await operations.account(self.ctx.store, request.param("address") or "")
        except operations.AdminError as exc:
            session.notices.append(f"error: {exc}")
            return see_other("/admin/users")
        return self._view(session, row.user.address, views.user(row, session.csrf), "users")

    async def aliases(self, request: HttpRequest, session: WebSession) -> HttpResponse:
        """Aliases and catch-alls."""
        items, catchalls = await operations.list_aliases(self.ctx.store)
        domains = await self.ctx.store.list_domains()
        return self._view(session, "Aliases and catch-alls",
                          views.aliases(items, catchalls, domains, session.csrf), "aliases")

    async def queue(self, request: HttpRequest, session: WebSession) -> HttpResponse:
        """The outbound queue."""
        items = await self.ctx.store.list_queue()
        return self._view(session, "Outbound queue", views.queue(items), "queue")

    async def queued(self, request: HttpRequest, session: WebSession) -> HttpResponse:
        """One queued message."""
        try:
            q = await operations.queued(self.ctx.store, _int(request.param("id")))
        except operations.AdminError as exc:
            session.notices.append(f"error: {exc}")
            return see_other("/admin/queue")
        return self._view(session, f"Queued message {q.id}", views.queued(q, session.csrf),
                          "queue")

    async def logs(self, request: HttpRequest, session: WebSession) -> HttpResponse:
        """The last log lines."""
        lines = self.ctx.log_lines(LOG_LINES)
        return self._view(session, "Log", views.logs(lines), "logs")

    # --- actions (POST) ----------------------------------------------------------------

    def _actions(self) -> list[tuple[str, Action, Callable[[dict[str, str]], str]]]:
        ctx = self.ctx
        store = ctx.store

        def to(path: str) -> Callable[[dict[str, str]], str]:
            return lambda _fields: path

        def user_page(fields: dict[str, str]) -> str:
            return views.user_link(fields.get("address", ""))

        def queued_page(fields: dict[str, str]) -> str:
            if fields.get("action") == "delete":
                return "/admin/queue"
            return views.queued_link(fields.get("id", ""))

        async def add_domain(f: dict[str, str], s: WebSession) -> str:
            return f"domain {await operations.add_domain(store, f.get('domain', ''))} added"

        async def remove_domain(f: dict[str, str], s: WebSession) -> str:
            _confirmed(f)
            name = await operations.remove_domain(store, f.get("domain", ""))
            return f"domain {name} removed"

        async def add_user(f: dict[str, str], s: WebSession) -> str:
            user, scram_ok = await operations.add_user(
                store, ctx.hasher, f.get("address", ""), f.get("password", ""),
                quota_mib=_int(f.get("quota") or "0"), admin=f.get("admin") == "yes")
            note = "" if scram_ok else f" (note: {operations.SCRAM_NOTE})"
            return f"account {user.address} added{note}"

        async def set_password(f: dict[str, str], s: WebSession) -> str:
            address, scram_ok = await operations.set_password(
                store, ctx.hasher, f.get("address", ""), f.get("password", ""))
            self.guard.sessions.end_all_of(address, keep=s.id)  # other browsers log in again
            note = "" if scram_ok else f" (note: {operations.SCRAM_NOTE})"
            return f"password of {address} changed{note}"

        async def set_options(f: dict[str, str], s: WebSession) -> str:
            role = f.get("role") or None
            disabled = _yes_no(f.get("disabled"))
            if f.get("address", "").lower() == s.address and (
                    role == "user" or disabled is True):
                raise operations.AdminError("you cannot take your own admin access away here")
            u = await operations.set_user_options(
                store, f.get("address", ""),
                quota_mib=_int(f["quota"]) if f.get("quota") else None,
                pop3_keep=_yes_no(f.get("pop3_keep")), role=role, disabled=disabled)
            quota = f"{u.quota_bytes // operations.MIB} MiB" if u.quota_bytes else "none"
            return (f"{u.address}: quota {quota}, POP3 {'keeps' if u.pop3_keep else 'deletes'}"
                    f", role {u.role}, login {'disabled' if u.disabled else 'enabled'}")

        async def remove_user(f: dict[str, str], s: WebSession) -> str:
            if f.get("address", "").lower() == s.address:
                raise operations.AdminError("you cannot remove your own account here")
            _confirmed(f)
            return f"account {await operations.remove_user(store, f.get('address', ''))} removed"

        async def add_alias(f: dict[str, str], s: WebSession) -> str:
            address, targets = await operations.add_alias(
                store, f.get("address", ""), f.get("targets", "").replace(",", " ").split())
            return f"alias {address} -> {', '.join(targets)}"

        async def remove_alias(f: dict[str, str], s: WebSession) -> str:
            return f"alias {await operations.remove_alias(store, f.get('address', ''))} removed"

        async def catchall(f: dict[str, str], s: WebSession) -> str:
            domain, target = await operations.set_catchall(store, f.get("domain", ""),
                                                           f.get("target"))
            return f"catch-all of {domain}: {target or 'none'}"

        async def queue_action(f: dict[str, str], s: WebSession) -> str:
            action = f.get("action", "")
            done = await operations.queue_action(store, _int(f.get("id")), action,
                                                 ctx.clock.now())
            if action in ("retry", "release"):
                ctx.wake_queue()
            return done

        async def server_entry(f: dict[str, str], s: WebSession) -> str:
            value = f.get("value", "")
            return await operations.set_server_entry(store, f.get("name", ""),
                                                     value if value else None)

        async def tls_reports(f: dict[str, str], s: WebSession) -> str:
            if ctx.send_tls_reports is None:
                raise operations.AdminError("TLS reporting is off ([queue] tlsrpt)")
            queued = await ctx.send_tls_reports(f.get("today") == "yes")
            ctx.wake_queue()
            return f"{len(queued)} TLS report(s) queued"

        return [
            ("/admin/metadata", server_entry, to("/admin/status")),
            ("/admin/tlsrpt", tls_reports, to("/admin/status")),
            ("/admin/domains/add", add_domain, to("/admin/domains")),
            ("/admin/domains/remove", remove_domain, to("/admin/domains")),
            ("/admin/users/add", add_user, to("/admin/users")),
            ("/admin/users/password", set_password, user_page),
            ("/admin/users/options", set_options, user_page),
            ("/admin/users/remove", remove_user, to("/admin/users")),
            ("/admin/aliases/add", add_alias, to("/admin/aliases")),
            ("/admin/aliases/remove", remove_alias, to("/admin/aliases")),
            ("/admin/aliases/catchall", catchall, to("/admin/aliases")),
            ("/admin/queue/action", queue_action, queued_page),
        ]


def _int(text: str | None) -> int:
    try:
        return int(text or "")
    except ValueError:
        raise operations.AdminError(f"'{text}' is not a number") from None


def _confirmed(fields: dict[str, str]) -> None:
    """A removal needs its "confirm" box ticked (the form marks it required)."""
    if fields.get("confirm") != "yes":
        raise operations.AdminError("tick the box to confirm the removal")


def _yes_no(text: str | None) -> bool | None:
    return None if not text else text == "yes"


def register(routes: HttpRoutes, ctx: AdminContext) -> AdminSite:
    """Add the web admin's routes; returns the site (its sessions, for tests)."""
    site = AdminSite(ctx)
    site.register(routes)
    return site
