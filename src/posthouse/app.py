"""Composition root: picks the store backend, builds auth, router, listeners; start/stop.

The one place where packages are wired together: the store is given the MIME parse, the queue
worker its resolver, connector, DKIM keys and router. Packages below take what they need.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import random
import signal
import socket
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from posthouse.clock import Clock, SystemClock
from posthouse.config import (
    PROTOCOLS,
    Config,
    parse_hostport,
    proxy_networks,
    resolver_address,
    tls_paths,
)
from posthouse.log import RecentLines
from posthouse.metrics import DISCARD, ServerMetrics
from posthouse.net.limits import ConnectionLimiter, raise_open_files_limit
from posthouse.net.listeners import Handler, ListenerGroup, ListenerSpec
from posthouse.net.siblings import SiblingLink
from posthouse.net.tls import TlsContextFactory
from posthouse.provision import PRIVATE_UMASK, disk_usage, ensure_tls, make_private
from posthouse.queue.worker import QueueWorker
from posthouse.services import Services
from posthouse.store.api import Store
from posthouse.store.datalock import DataDirLock
from posthouse.web.client_ports import ClientPorts
from posthouse.web.routes import HttpRoutes

if TYPE_CHECKING:
    from posthouse.acme.manager import CertificateManager
    from posthouse.admin.pages import AdminSite, ServerFacts
    from posthouse.auth.cache import VerificationCache
    from posthouse.auth.passwords import PasswordHasher
    from posthouse.delivery.trust import InboundTrust
    from posthouse.dns.resolver import Resolver
    from posthouse.mailauth.dkim import DkimKeys
    from posthouse.queue.attempt import Timeouts
    from posthouse.queue.tls_policy import TlsPolicy
    from posthouse.queue.tlsrpt_report import TlsReporter

log = logging.getLogger("posthouse.app")
queue_log = logging.getLogger("posthouse.queue")  # build_worker logs as the queue, as before

# What a refused connection is told, per protocol family.
_BUSY = {
    "smtp": b"421 4.7.0 Too many connections, try again later\r\n",
    "imap": b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n",
    "pop3": b"-ERR [SYS/TEMP] Too many connections, try again later\r\n",
    "http": (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
             b"Connection: close\r\nRetry-After: 10\r\n\r\n"),
}
_IMPLICIT_TLS = ("submissions", "imaps", "pop3s", "https")


def family(protocol: str) -> str:
    """smtp, imap, pop3 or http for any listener name."""
    if protocol in ("smtp", "submission", "submissions"):
        return "smtp"
    return protocol.rstrip("s")


@dataclass(frozen=True)
class WorkerPlan:
    """An App that is one of several worker processes of one server (cli/workers.py): its
    index (0 is the primary: HTTP, ACME, TLS reports and the store's upkeep run there
    only; every worker runs a queue worker), how many there are, the listening sockets the
    parent bound (by protocol and configured address) and the private directory of the
    sibling sockets."""

    index: int
    count: int
    sockets: Mapping[tuple[str, str], socket.socket]
    run_dir: Path
    auth_cache_key: bytes = b""  # the login cache's key, the same in every worker

    @property
    def primary(self) -> bool:
        """Whether this is worker 0."""
        return self.index == 0


# The sibling messages of the App's own (store events are store/siblings.py's "E").
RELOAD_TLS = b"T"  # to every other worker: the primary installed a new ACME certificate
LOGIN_CACHED = b"A"  # to every other worker: a verified login (auth/cache.py)


def build_store(cfg: Config, *, background: bool = True,
                metrics: ServerMetrics | None = None,
                siblings: SiblingLink | None = None) -> Store:
    """The configured store backend: embedded SQLite in the data dir (the default), or
    PostgreSQL when ``[store] url`` is a postgresql:// URI (its commits are not observed
    by ``metrics`` yet).

    ``background`` False (admin commands, secondary workers): leave building the search
    index, and the repair of summaries a crash left out, to the server. ``siblings``: the
    link of a worker process (store events cross to the others: SQLite; PostgreSQL has its
    own LISTEN). The store is given the MIME parse."""
    from posthouse.config import uses_postgres
    from posthouse.message.summary import message_text, summarize

    if uses_postgres(cfg):
        from posthouse.store.postgres.backend import PostgresStore

        return PostgresStore(cfg.store.url, summarize=summarize, message_text=message_text,
                             pool_size=cfg.store.pool_size,
                             queue_lease_seconds=cfg.store.queue_lease_seconds)
    from posthouse.store.space import SpaceGuard
    from posthouse.store.sqlite.backend import SqliteStore

    space = SpaceGuard(cfg.data_path, min_free_bytes=cfg.limits.min_free_bytes)
    return SqliteStore(cfg.data_path, summarize=summarize, message_text=message_text,
                       auto_index=background, space=space,
                       observe_commit=metrics.commit if metrics is not None else None,
                       siblings=siblings)


def build_hasher(cfg: Config) -> PasswordHasher:
    """The argon2id hasher with the configured cost."""
    from posthouse.auth.passwords import PasswordHasher

    return PasswordHasher(
        time_cost=cfg.auth.argon2_time_cost,
        memory_kib=cfg.auth.argon2_memory_kib,
        parallelism=cfg.auth.argon2_parallelism,
    )


def build_resolver(config: Config) -> Resolver:
    """The one resolver of the server ([dns]): MX routing and the inbound checks share it
    and its cache."""
    from posthouse.dns.dnspython import DnsPythonResolver

    return DnsPythonResolver(resolver_address(config), timeout=config.dns.timeout_seconds,
                             cache_entries=config.dns.cache_entries)


def build_trust(config: Config, resolver: Resolver, clock: Clock) -> InboundTrust | None:
    """The port 25 checks of [checks]; None when every one is off."""
    from posthouse.delivery.trust import InboundTrust, arc_check, spf_check

    checks = config.checks
    if not (checks.spf or checks.dkim or checks.dmarc or checks.arc or checks.iprev):
        return None
    hostname = config.server.hostname
    return InboundTrust(resolver, checks, authserv_id=checks.authserv_id or hostname,
                        clock=clock, spf=spf_check(resolver, hostname,
                                                   float(checks.spf_timeout_seconds)),
                        arc=arc_check(resolver))


def build_antiabuse(config: Config, resolver: Resolver) -> dict[str, Any]:
    """The [antiabuse] parts of Services: blocklists, rate limiter, greylist and rspamd
    client, each None when off."""
    from posthouse.delivery.blocklists import Blocklists
    from posthouse.delivery.greylist import Greylist, GreylistTimes
    from posthouse.delivery.rates import RateLimiter
    from posthouse.delivery.rspamd import RspamdClient

    ab = config.antiabuse
    blocklists = Blocklists(resolver, ab)
    greylist = None
    if ab.greylist:
        times = GreylistTimes(delay=float(ab.greylist_delay_seconds),
                              retry=float(ab.greylist_retry_seconds),
                              passed=float(ab.greylist_pass_seconds))
        greylist = Greylist(config.data_path / "greylist.json", times)
    rspamd = (RspamdClient(ab.rspamd_url, float(ab.rspamd_timeout_seconds))
              if ab.rspamd_url else None)
    return {"blocklists": blocklists if blocklists.enabled else None,
            "rates": RateLimiter(float(ab.rate_window_seconds)),
            "greylist": greylist, "rspamd": rspamd}


def build_tls_policy(config: Config, resolver: Resolver, clock: Clock) -> TlsPolicy:
    """MTA-STS, DANE and the TLS-RPT result log of [queue], for MX routes."""
    from posthouse.net.tls import client_context
    from posthouse.queue.mta_sts import PolicyCache, StsPolicies
    from posthouse.queue.tls_policy import TlsPolicy
    from posthouse.queue.tlsrpt import TlsResultLog

    q = config.queue
    sts = StsPolicies(resolver=resolver, cache=PolicyCache(config.data_path / "mta-sts"),
                      clock=clock, context=client_context(verify=True, cafile=q.tls_ca_file),
                      port=q.mta_sts_port, timeout=float(q.mta_sts_timeout_seconds),
                      ) if q.mta_sts else None
    results = TlsResultLog(config.data_path / "tlsrpt", clock) if q.tlsrpt else None
    return TlsPolicy(resolver=resolver, sts=sts, dane=q.dane,
                     ca_file=q.tls_ca_file, results=results)


def build_tls_reporter(config: Config, store: Store, resolver: Resolver, clock: Clock,
                       wake: Callable[[], None] = lambda: None) -> TlsReporter:
    """The TLS-RPT sender (RFC 8460) over the data dir's results and the outbound queue."""
    from posthouse.queue.tlsrpt import TlsResultLog
    from posthouse.queue.tlsrpt_report import TlsReporter

    return TlsReporter(results=TlsResultLog(config.data_path / "tlsrpt", clock),
                       resolver=resolver, store=store, submitter=config.server.hostname,
                       clock=clock, wake=wake)


def build_dkim_keys(config: Config) -> DkimKeys | None:
    """The DKIM signing keys of the data directory; None (signing off) when there is no key
    or a key file is unusable (logged)."""
    from posthouse.mailauth.dkim import DkimKeyError, load_keys

    try:
        return load_keys(config)
    except DkimKeyError as exc:
        queue_log.error("DKIM signing disabled: %s", exc)
        return None


def build_worker(*, store: Store, config: Config, clock: Clock,
                 resolver: Resolver | None = None, timeouts: Timeouts | None = None,
                 max_inflight: int | None = None,
                 metrics: ServerMetrics = DISCARD,
                 dkim_keys: DkimKeys | Literal["load"] | None = "load",
                 sweep: bool = True) -> QueueWorker:
    """The outbound queue worker as App runs it: dnspython resolver (config queue.resolver),
    MX routing, opportunistic TLS, the DKIM keys of the data directory ("load": read them
    here). Tests may pass their own resolver, timeouts and in-flight limit."""
    from posthouse.delivery.router import Router
    from posthouse.queue.attempt import Timeouts
    from posthouse.queue.connect import Connector, default_tls_contexts
    from posthouse.queue.mx import Routing

    resolver = resolver or build_resolver(config)
    routing = Routing(config.queue, resolver, config.server.hostname, random.Random())
    connector = Connector(routing, config.server.hostname, timeouts or Timeouts(),
                          default_tls_contexts(config.queue.tls_ca_file),
                          build_tls_policy(config, resolver, clock))
    keys = build_dkim_keys(config) if dkim_keys == "load" else dkim_keys
    # The queue's notices have a router of their own: no default-domain postmaster fallback,
    # the system clock for its domain cache.
    return QueueWorker(store=store, config=config, clock=clock, opener=connector,
                       router=Router(store), dkim_keys=keys, max_inflight=max_inflight,
                       metrics=metrics, sweep=sweep)


async def certificate_names(config: Config, store: Store) -> list[str]:
    """The names the ACME certificate covers: the host name, then autoconfig.<domain> and
    mta-sts.<domain> of every local domain (A-labels), each once."""
    from posthouse.dns.idn import canonical_domain

    names = [canonical_domain(config.server.hostname)]
    for domain in sorted(await store.list_domains()):
        d = canonical_domain(domain)
        names += [f"autoconfig.{d}", f"mta-sts.{d}"]
    return list(dict.fromkeys(names))


def build_acme(config: Config, store: Store, tls: TlsContextFactory,
               clock: Clock) -> CertificateManager:
    """The ACME certificate manager of [tls] acme: its files in the data dir, the challenge
    board (tls-alpn-01 answers go to the TLS factory's HTTPS handshakes), the install that
    switches every listener to the new certificate."""
    from posthouse.acme.challenges import ChallengeBoard
    from posthouse.acme.files import AcmeFiles
    from posthouse.acme.manager import AcmeSettings, CertificateManager
    from posthouse.acme.transport import HttpsTransport
    from posthouse.config import DataPaths
    from posthouse.net.tls import client_context

    t = config.tls
    paths = DataPaths(config.data_path)
    files = AcmeFiles(paths.acme, paths.acme_live)
    board = ChallengeBoard(files.challenges, tls)
    settings = AcmeSettings(directory=t.acme_directory, email=t.acme_email,
                            renew_days=t.acme_renew_days,
                            challenges=tuple(t.acme_challenges),
                            retry_seconds=float(t.acme_retry_seconds))
    return CertificateManager(
        settings, files=files, board=board,
        transport=HttpsTransport(client_context(verify=True, cafile=t.acme_ca_file)),
        names=lambda: certificate_names(config, store),
        install=lambda: tls.use_files(paths.acme_live, paths.acme_live), clock=clock)


class _PrivateUmask:
    """The process umask while Apps run: PRIVATE_UMASK from the first App's start until the
    last one stops, in whatever order they stop (the umask belongs to the process)."""

    running = 0
    saved = 0

    @classmethod
    def enter(cls) -> int:
        """Set the private umask (the first App); the umask found before the first App."""
        if cls.running == 0:
            cls.saved = os.umask(PRIVATE_UMASK)
        cls.running += 1
        return cls.saved

    @classmethod
    def leave(cls) -> None:
        """One App stopped; the last one gives the process its umask back."""
        cls.running -= 1
        if cls.running == 0:
            os.umask(cls.saved)


class App:
    """A running posthouse: ``await start()``, then ``await stop()``.

    While it runs, the process umask is PRIVATE_UMASK (the umask is the process's: with
    several Apps it holds from the first start to the last stop, see _PrivateUmask)."""

    def __init__(self, cfg: Config, *, clock: Clock | None = None,
                 plan: WorkerPlan | None = None) -> None:
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.metrics = ServerMetrics()  # this App's own registry (/metrics)
        self.plan = plan  # None: the only process of the server
        self.siblings = (SiblingLink(plan.run_dir, plan.index, plan.count)
                         if plan is not None else None)
        self.store = build_store(cfg, metrics=self.metrics, siblings=self.siblings,
                                 background=plan is None or plan.primary)
        self.listeners: ListenerGroup | None = None
        self.services: Services | None = None
        self.queue_worker: QueueWorker | None = None
        self.tls_reporter: TlsReporter | None = None
        self.acme: CertificateManager | None = None
        # The HTTP listener's pages: modules add theirs (web/routes.py) before start().
        self.http_routes = HttpRoutes()
        self._background: list[asyncio.Task[None]] = []
        self._accepting = False  # the listeners accept (for /readyz)
        self.recent_log = RecentLines()  # the web admin's log page, attached while running
        self.started: datetime | None = None
        self._started_monotonic = 0.0
        self.admin: AdminSite | None = None  # the web admin, once start() registered it
        self.resolver: Resolver | None = None
        self.hasher: PasswordHasher | None = None
        self._umask_before: int | None = None
        self._lock = DataDirLock(cfg.data_path)

    async def start(self, *, after_bind: Callable[[], None] | None = None) -> None:
        """Load TLS, bind every enabled listener, then (``after_bind``: the CLI's privilege
        drop) make the data dir owner-only, open the store, start accepting and the
        background workers.

        ``after_bind`` runs while only the main thread of the server's own making exists
        and before any byte from the network is read: the listeners are bound but accept
        nothing yet, the store (its writer, checkpointer and indexer threads and its files)
        is not open."""
        self._umask_before = _PrivateUmask.enter()  # before any file is created
        self.started, self._started_monotonic = self.clock.now(), self.clock.monotonic()
        logging.getLogger("posthouse").addHandler(self.recent_log)
        try:
            await self._start(after_bind)
        except BaseException:
            self._restore_umask()
            raise

    async def _start(self, after_bind: Callable[[], None] | None) -> None:
        ensure_tls(self.cfg)
        cert, key = tls_paths(self.cfg)
        tls = TlsContextFactory(cert, key, min_version=self.cfg.tls.min_version,
                                ciphers=self.cfg.tls.ciphers)
        self.services = self._build_services()
        if self.cfg.tls.acme and self._primary:
            self.acme = build_acme(self.cfg, self.store, tls, self.clock)
            if self.siblings is not None:
                self.acme.install = _and_tell(self.acme.install, self.siblings)
        self._register_pages(self.services)
        limits = self.cfg.limits
        _check_open_files(limits.max_connections)
        self.listeners = ListenerGroup(
            tls, ConnectionLimiter(
                max_total=limits.max_connections, max_per_ip=limits.max_connections_per_ip,
                max_per_listener=limits.max_connections_per_listener,
                max_per_ip_per_listener=limits.max_connections_per_ip_per_listener),
            handshake_timeout=float(limits.tls_handshake_seconds),
            slow_penalty=float(limits.slow_penalty_seconds), metrics=self.metrics,
            proxy_header_timeout=float(limits.proxy_header_seconds))
        await self.listeners.start(self._specs(self.services), accept=False)
        try:
            if after_bind is not None:
                after_bind()
            if self.plan is None:  # a worker's parent did both (cli/workers.py)
                self._make_data_dir_private()  # once the certificate loads
                self._lock.acquire()  # one server per data dir (store/datalock.py)
            try:
                await self.store.open()
            except BaseException:
                self._lock.release()
                raise
            if self.siblings is not None:
                self._start_siblings(self.siblings, tls)
        except BaseException:
            await self.listeners.stop(0)
            raise
        try:
            await self.listeners.accept()
        except BaseException:
            await self.listeners.stop(0)
            await self.store.close()
            self._lock.release()
            if self.siblings is not None:
                self.siblings.close()
            raise
        self._accepting = True
        self._background = [asyncio.create_task(w) for w in self._workers(self.services)]

    @property
    def _primary(self) -> bool:
        """The only process, or worker 0: runs the queue, HTTP and the store's upkeep."""
        return self.plan is None or self.plan.primary

    def _start_siblings(self, link: SiblingLink, tls: TlsContextFactory) -> None:
        """Listen to the other workers: the secondaries switch to the certificate the
        primary's ACME manager installed."""
        if not self._primary:
            link.handle(RELOAD_TLS, lambda _payload: _use_files(tls, tls_paths(self.cfg)))
        assert self.services is not None
        if self.plan is not None and self.plan.auth_cache_key:
            _share_logins(self.services.authenticator.cache, link)
        link.start()

    def port(self, protocol: str) -> int:
        """The bound port of a listener (after start)."""
        assert self.listeners is not None
        return self.listeners.port(protocol)

    def reload_tls(self) -> None:
        """SIGHUP: re-read the certificate and key (and check the ACME one now)."""
        if self.listeners is not None:
            self.listeners.tls.reload()
        if self.acme is not None:
            self.acme.request_check()

    async def stop(self) -> None:
        """Graceful shutdown: stop accepting, let transactions finish, close the store."""
        self._accepting = False
        if self.listeners is not None:
            await self.listeners.stop(self.cfg.limits.shutdown_grace_seconds)
        if self.services is not None and self.services.greylist is not None:
            await self.services.greylist.flush()
        for task in self._background:
            task.cancel()
        if self._background:
            await asyncio.wait(self._background, timeout=10)
        await self.store.close()
        self._lock.release()
        if self.siblings is not None:
            self.siblings.close()
        if self.services is not None:
            self.services.authenticator.close()
        self._restore_umask()

    def _restore_umask(self) -> None:
        logging.getLogger("posthouse").removeHandler(self.recent_log)
        if self._umask_before is not None:
            _PrivateUmask.leave()
            self._umask_before = None

    def _make_data_dir_private(self) -> None:
        """Fix a data dir an older posthouse (or a copy) left readable by others."""
        root = self.cfg.data_path
        changed, failed = make_private(root)
        if changed:
            log.warning("data directory %s: took group/other access away from %d entries",
                        root, changed)
        if failed:
            log.error("data directory %s: %d entries readable by others could not be "
                      "changed (another owner?)", root, failed)

    async def run_until_signalled(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve until SIGTERM/SIGINT; SIGHUP reloads TLS.

        ``on_ready`` runs once the handlers are installed, so whoever waits for the ready
        line may signal right away (before, SIGTERM would still kill the process outright).
        """
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload_tls)
        if on_ready is not None:
            on_ready()
        await stop.wait()
        log.info("shutting down")
        await self.stop()

    def _build_services(self) -> Services:
        from posthouse.auth.authenticator import build_authenticator
        from posthouse.delivery.router import Router
        from posthouse.delivery.submit import Submitter
        from posthouse.delivery.vacation import VacationReplies

        resolver = self.resolver = build_resolver(self.cfg)
        self.hasher = build_hasher(self.cfg)
        # One set of DKIM keys: the worker signs what it relays, submission the local copies.
        keys = build_dkim_keys(self.cfg)
        # The SMTP side wakes the worker right after it queued mail for remote recipients.
        # Every worker process runs one: the store lets one process claim an entry.
        self.queue_worker = build_worker(store=self.store, config=self.cfg, clock=self.clock,
                                         resolver=resolver, metrics=self.metrics,
                                         dkim_keys=keys, sweep=self._primary)
        if self.cfg.queue.tlsrpt:
            self.tls_reporter = build_tls_reporter(self.cfg, self.store, resolver, self.clock,
                                                   self.queue_worker.wake)

        services = Services(
            config=self.cfg,
            store=self.store,
            authenticator=build_authenticator(
                self.store, self.cfg, self.hasher, clock=self.clock, metrics=self.metrics,
                cache_key=(self.plan.auth_cache_key or None) if self.plan is not None else None),
            router=Router(self.store, default_domain=self.cfg.server.default_domain,
                          clock=self.clock),
            clock=self.clock,
            queue_waker=self.queue_worker.wake,
            trust=build_trust(self.cfg, resolver, self.clock),
            **build_antiabuse(self.cfg, resolver),
            metrics=self.metrics,
            dkim_keys=keys,
        )
        # JMAP EmailSubmission and vacation replies go the port 587 way: the same router,
        # clock and queue waker (delivery/submit.py)
        submitter = Submitter(self.store, services.router, self.clock, services.hostname,
                              services.queue_waker, dkim_keys=keys)
        return dataclasses.replace(services, submitter=submitter,
                                   vacation=VacationReplies(self.store, submitter))

    def _register_pages(self, services: Services) -> None:
        """The HTTP listener's own pages: monitoring, client autoconfiguration (Thunderbird,
        Outlook, Apple), the MTA-STS policy and the ACME http-01 answers."""
        from posthouse.web import acme, autoconfig, autodiscover, mobileconfig, monitoring, mta_sts
        from posthouse.web.client_ports import MailServer

        http = self.cfg.http
        routes = self.http_routes
        monitoring.register(routes, http, ready=self._readiness, exposition=self._scrape)
        server = MailServer(self.cfg.server.hostname, self._client_ports,
                            self.store.is_local_domain)
        autoconfig.register(routes, server)
        autodiscover.register(routes, server)
        mobileconfig.register(routes, server, services.authenticator,
                              lambda: tls_paths(self.cfg))
        policy = mta_sts.mta_sts_policy(self.cfg.server.hostname, http.mta_sts_mode,
                                        http.mta_sts_max_age)
        mta_sts.register(routes, policy, self.store.is_local_domain)
        if self.acme is not None:
            acme.register(routes, self.acme.board)
        if http.admin:
            self.admin = self._register_admin(services)

        self._register_jmap(services)

    def _register_jmap(self, services: Services) -> None:
        """JMAP (RFC 8620/8621) on the HTTPS listener: jmap/routes.py, and the webmail on
        it (webmail/pages.py) unless ``[http] webmail`` is off."""
        from posthouse.jmap import routes as jmap_routes
        from posthouse.jmap.browser_auth import BrowserLogins
        from posthouse.jmap.limits import JmapLimits
        from posthouse.jmap.uploads import UploadArea
        from posthouse.web.sessions import WebSessions
        from posthouse.webmail import pages as webmail_pages

        body = self.cfg.http.max_body_bytes  # the listener refuses larger bodies first
        limits = JmapLimits(max_size_request=min(JmapLimits.max_size_request, body),
                            max_size_upload=min(JmapLimits.max_size_upload, body))
        uploads = UploadArea(self.cfg.data_path / "jmap-uploads")
        # the webmail's logins are JMAP credentials too (jmap/browser_auth.py)
        browser = (BrowserLogins(WebSessions(self.clock), self.store)
                   if self.cfg.http.webmail else None)
        pages = jmap_routes.register(self.http_routes, self.store, services.authenticator,
                                     limits, uploads, services.submitter, browser)
        if browser is not None:
            webmail_pages.register(self.http_routes, services.authenticator, browser, pages)

    def _register_admin(self, services: Services) -> AdminSite:
        """The web admin (/admin on the HTTPS listener), on the same store, authenticator,
        hasher and resolver as the rest of the server."""
        from posthouse.admin import pages

        assert self.queue_worker is not None
        assert self.resolver is not None
        assert self.hasher is not None
        ctx = pages.AdminContext(
            config=self.cfg, store=self.store, authenticator=services.authenticator,
            hasher=self.hasher, resolver=self.resolver,
            clock=self.clock, wake_queue=self.queue_worker.wake, facts=self._admin_facts,
            log_lines=self.recent_log.tail,
            send_tls_reports=self._send_tls_reports if self.tls_reporter is not None else None)
        return pages.register(self.http_routes, ctx)

    async def _send_tls_reports(self, include_today: bool) -> list[int]:
        """The web admin's `posthouse tlsrpt send`."""
        assert self.tls_reporter is not None
        return await self.tls_reporter.send_due(include_today=include_today)

    async def _admin_facts(self) -> ServerFacts:
        """The status page's view of this App."""
        from posthouse.admin.pages import ServerFacts

        bound = self.listeners.bound if self.listeners is not None else {}
        listeners = [(proto, f"{host}:{port}" if ":" not in host else f"[{host}]:{port}")
                     for proto, addrs in bound.items() for host, port, *_ in addrs]
        assert self.started is not None
        return ServerFacts(
            started=self.started, uptime=self.clock.monotonic() - self._started_monotonic,
            listeners=listeners,
            store_bytes=await asyncio.to_thread(disk_usage, self.cfg.data_path))

    def _client_ports(self) -> ClientPorts:
        """The mail ports clients are told of: the first bound port of each listener."""
        bound = self.listeners.bound if self.listeners is not None else {}

        def first(protocol: str) -> int | None:
            addrs = bound.get(protocol)
            return addrs[0][1] if addrs else None

        return ClientPorts(imaps=first("imaps"), imap=first("imap"), pop3s=first("pop3s"),
                           submissions=first("submissions"), submission=first("submission"))

    async def _readiness(self) -> str | None:
        """/readyz: None when the listeners accept and the store answers, else why not."""
        if not self._accepting:
            return "listeners not accepting"
        try:
            await self.store.list_domains()
        except Exception as exc:
            return f"store: {type(exc).__name__}"
        return None

    async def _scrape(self) -> tuple[bytes, str]:
        """/metrics: the queue and store states read now, then every metric."""
        queued = await self.store.list_queue()
        now = self.clock.now()
        oldest = min((m.created for m in queued), default=None)
        self.metrics.set_queue(len(queued),
                               (now - oldest).total_seconds() if oldest is not None else 0.0)
        self.metrics.set_store_bytes(await asyncio.to_thread(disk_usage, self.cfg.data_path))
        return self.metrics.exposition()

    def _specs(self, services: Services) -> list[ListenerSpec]:
        handlers = _handlers(services, self.http_routes)
        trusted = proxy_networks(self.cfg.listen)
        specs = []
        for proto in PROTOCOLS:
            handler = handlers.get(family(proto))
            if handler is None or (family(proto) == "http" and not self.cfg.http.enabled):
                continue
            if not self._primary and not serves_everywhere(self.cfg, proto):
                continue
            for addr in getattr(self.cfg.listen, proto):
                host, port = parse_hostport(addr)
                sock = self.plan.sockets.get((proto, addr)) if self.plan is not None else None
                specs.append(ListenerSpec(
                    protocol=proto, host=host, port=port, handler=handler,
                    implicit_tls=proto in _IMPLICIT_TLS,
                    busy_reply=_BUSY[family(proto)], linger_refused=family(proto) == "http",
                    tls_alpn_challenges=proto == "https",
                    proxy_trusted=trusted if proto in self.cfg.listen.proxy_protocol else None,
                    sock=sock))
        return specs

    def _workers(self, services: Services) -> list[Coroutine[Any, Any, None]]:
        """The background loops start() runs as tasks: the outbound queue worker (in every
        worker process), the TLS-RPT sender (hourly: each past day's reports once) and the
        ACME manager (both only in the primary)."""
        assert self.queue_worker is not None
        loops = [self.queue_worker.run()]
        if not self._primary:
            return loops
        if self.tls_reporter is not None:
            loops.append(self.tls_reporter.run())
        if self.acme is not None:
            loops.append(self.acme.run())
        return loops


def serves_everywhere(cfg: Config, protocol: str) -> bool:
    """Whether every worker process serves this listener, or only the primary: HTTP (web
    sessions, JMAP push and the admin live in one process) and, with greylisting on, port
    25 (the greylist's triplets are one process's)."""
    if family(protocol) == "http":
        return False
    return not (protocol == "smtp" and cfg.antiabuse.greylist)


def _and_tell(install: Callable[[], bool], link: SiblingLink) -> Callable[[], bool]:
    """The ACME install of the primary, then the other workers told to load the files."""

    def install_everywhere() -> bool:
        if not install():
            return False
        link.send_all(RELOAD_TLS)
        return True

    return install_everywhere


def _share_logins(cache: VerificationCache, link: SiblingLink) -> None:
    """Each verified login stored in one worker's cache is stored in the others' too (the
    same key makes the same slot): the next login of that client in another worker costs
    no hash. The message carries the address, the HMAC slot and the stored hash it was
    verified against, never the password."""

    def tell(address: str, digest: bytes, verified_hash: str) -> None:
        link.send_all(LOGIN_CACHED, json.dumps([address, digest.hex(), verified_hash]).encode())

    def told(payload: bytes) -> None:
        address, digest, verified_hash = json.loads(payload)
        cache.store_slot(address, bytes.fromhex(digest), verified_hash)

    cache.on_store = tell
    link.handle(LOGIN_CACHED, told)


def _use_files(tls: TlsContextFactory, paths: tuple[Path, Path]) -> None:
    tls.use_files(*paths)


def _handlers(services: Services, routes: HttpRoutes) -> dict[str, Handler]:
    """The protocol adapters, by family."""
    from posthouse.serve import http, imap, pop3, smtp

    return {
        "smtp": smtp.make_handler(services),
        "imap": imap.make_handler(services),
        "pop3": pop3.make_handler(services),
        "http": http.make_handler(services, routes),
    }


_SPARE_FILES = 256  # descriptors beyond the connections: store, logs, queue, DNS, listeners


def _check_open_files(max_connections: int) -> None:
    """Raise the soft descriptor limit to the hard one; say so when it stays too low for
    ``max_connections`` (every connection is a descriptor)."""
    soft, hard = raise_open_files_limit()
    if soft and soft < max_connections + _SPARE_FILES:
        log.warning("open files limit %d (hard %d) is below max_connections %d + %d: "
                    "connections beyond it will fail; raise the hard limit (ulimit -Hn, "
                    "systemd LimitNOFILE=)", soft, hard, max_connections, _SPARE_FILES)
    else:
        log.debug("open files limit %d", soft)
