"""SMTP IO adapter for port 25 (inbound MX) and submission (587 STARTTLS, 465 implicit TLS).

The sans-IO core (smtp.SmtpServerConnection) enforces the protocol; this adapter decides each
reply: routing and relay policy, sender ownership, quota, authentication, and delivery.
"""

from __future__ import annotations

import logging

from posthouse import sasl, smtp
from posthouse.auth.authenticator import Principal
from posthouse.auth.sasl_exchange import ExchangeResult, SaslExchange, SaslOutcome
from posthouse.delivery.headers import TraceInfo, submission_fixes
from posthouse.delivery.notices import notify_over_quota
from posthouse.delivery.router import Route
from posthouse.delivery.rspamd import Envelope
from posthouse.delivery.submission_dkim import sign_submission
from posthouse.delivery.transaction import AcceptedRecipient, DeliveryTransaction
from posthouse.delivery.trust import PendingChecks
from posthouse.log import new_session_id
from posthouse.net.connection import Connection, GraceExpired
from posthouse.net.limits import MinRate
from posthouse.net.listeners import Handler, SessionContext
from posthouse.net.peers import plaintext_login_allowed
from posthouse.serve.smtp_abuse import AbuseGate, early_talker
from posthouse.services import Services
from posthouse.smtp import replies
from posthouse.store.errors import QuotaExceeded, StorageFull, StoreError
from posthouse.store.quota import fits_quota
from posthouse.wire.transparency import normalize_newlines

log = logging.getLogger("posthouse.smtp")


def make_handler(services: Services) -> Handler:
    """The listener callback for smtp, submission and submissions."""
    configs = _CoreConfigs(services)

    async def handle(conn: Connection, ctx: SessionContext) -> None:
        config = configs.get(ctx.protocol, conn.peer[0])
        await SmtpSession(services, conn, ctx, config).run()

    return handle


class _CoreConfigs:
    """The sans-IO core's configuration for each kind of session, made once."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._made: dict[tuple[str, bool], smtp.SmtpConfig] = {}

    def get(self, protocol: str, peer_ip: str) -> smtp.SmtpConfig:
        """The configuration for a session on ``protocol`` from ``peer_ip``."""
        # AUTH exists on the submission ports only: only there does the peer's address count.
        loopback_plain = protocol != "smtp" and plaintext_login_allowed(
            tls_active=False, peer_ip=peer_ip,
            loopback_ok=self._services.config.auth.allow_plaintext_on_loopback)
        key = (protocol, loopback_plain)
        config = self._made.get(key)
        if config is None:
            config = self._made[key] = _core_config(self._services, protocol, loopback_plain)
        return config


def _core_config(services: Services, protocol: str, loopback_plain: bool) -> smtp.SmtpConfig:
    """What the sans-IO core offers and enforces on one kind of session."""
    cfg = services.config
    submission = protocol != "smtp"
    return smtp.SmtpConfig(
        hostname=cfg.server.hostname,
        max_message_size=cfg.limits.max_message_size,
        max_recipients=cfg.limits.max_recipients,
        starttls=True,
        auth=submission,
        scram=True,
        auth_requires_tls=not loopback_plain,
        auth_required=submission,
    )


class SmtpSession:
    """One SMTP connection."""

    def __init__(self, services: Services, conn: Connection, ctx: SessionContext,
                 config: smtp.SmtpConfig) -> None:
        self.services = services
        self.conn = conn
        self.ctx = ctx
        self.submission = ctx.protocol != "smtp"
        self.sid = new_session_id("s")
        self.ip = conn.peer[0]
        self.core = smtp.SmtpServerConnection(config, tls_active=conn.is_tls)
        self.helo = ""
        self.extended = False
        self.principal: Principal | None = None
        self.txn: DeliveryTransaction | None = None
        self.exchange: SaslExchange | None = None
        self.messages = 0  # per-session counter: message ids are "<session>.<n>"
        # The "accepted" log line of the message just committed: written after its 250 has
        # gone out, so the client does not wait for our logging.
        self._accepted: tuple[str, int, int] | None = None
        # Port 25: the SPF and iprev checks of the current transaction, since MAIL FROM.
        self._spf: PendingChecks | None = None
        self._gate = AbuseGate(services, self.ip, submission=self.submission)

    async def run(self) -> None:
        """Serve commands until QUIT, EOF, timeout or shutdown.

        Logged: each transaction's outcome as it ends, and one line per session when it
        ends with its peer, protocol, TLS version (after any STARTTLS) and user (a line at
        connect only at debug level: two info lines per message are enough to pay for)."""
        log.debug("connect peer=%s proto=%s", self.ip, self.ctx.protocol)
        pause = 0 if self.submission else self.services.config.antiabuse.greet_pause_ms
        if await early_talker(self.conn, pause / 1000):
            log.info("refused early talker peer=%s", self.ip)
            self.conn.write(replies.early_talker().render(enhanced=True))
            self._gate.close()
            await self.conn.drain()
            return
        self.conn.write(self.core.greeting())
        limits = self.services.config.limits
        line_seconds = float(limits.command_line_seconds)
        rate = MinRate(limits.data_min_bytes_per_second, limits.data_rate_window_seconds)
        try:
            while True:
                event = self.core.next_event()
                if isinstance(event, smtp.Closed):
                    break
                if isinstance(event, smtp.NeedData):
                    if self.ctx.shutting_down.is_set() and self.txn is None:
                        self.conn.write(self.core.send(replies.shutting_down(self.hostname)))
                        break
                    await self.conn.drain()
                    try:
                        if self.core.reading_content:  # DATA/BDAT: a minimum rate per window
                            data = await self.conn.read(limits.smtp_idle_seconds, min_rate=rate)
                        else:  # a whole command line within its deadline, however it trickles
                            data = await self.conn.read(self._idle_seconds(),
                                                        line_seconds=line_seconds)
                    except TimeoutError:  # RFC 5321 4.5.3.2.7; TooSlow too (issue 12, defect 4)
                        self.conn.write(self.core.send(replies.timeout(self.hostname)))
                        break
                    except GraceExpired:  # the shutdown grace is over, the client still sends
                        self._end_for_shutdown()
                        break
                    self.core.receive_data(data)
                    continue
                await self._answer(event)
        finally:
            self._drop_spf()
            self._gate.close()
        await self.conn.drain()
        log.info("session peer=%s proto=%s tls=%s user=%s messages=%d", self.ip,
                 self.ctx.protocol, self.conn.tls_version or "-",
                 self.principal.address if self.principal else "-", self.messages)

    def _drop_spf(self) -> None:
        if self._spf is not None:
            self._spf.cancel()
            self._spf = None

    def _idle_seconds(self) -> int:
        """Submission before AUTH: the short pre-authentication timeout; port 25 (never
        authenticated) and authenticated sessions: RFC 5321 4.5.3.2's (smtp_idle_seconds)."""
        limits = self.services.config.limits
        if self.submission and self.principal is None:
            return min(limits.preauth_idle_seconds, limits.smtp_idle_seconds)
        return limits.smtp_idle_seconds

    def _end_for_shutdown(self) -> None:
        """421 4.3.2 (RFC 5321 3.8: the service is going away); an unfinished transaction
        is dropped (nothing of it was stored) and logged."""
        if self.txn is not None:
            log.warning("transaction cut by shutdown peer=%s from=<%s> rcpts=%d", self.ip,
                        self.txn.mail_from, len(self.txn.recipients))
            self.txn = None
        self.conn.write(self.core.send(replies.shutting_down(self.hostname)))

    @property
    def hostname(self) -> str:
        """Our name in replies."""
        return self.services.hostname

    async def _answer(self, event: smtp.SmtpEvent | sasl.SaslEvent) -> None:
        if isinstance(event, smtp.StartTLS):
            self.conn.write(self.core.send(replies.ready_to_start_tls()))
            await self.conn.drain()
            self.core.start_tls()
            self.txn = None
            await self.conn.start_tls(self.ctx.tls.context)
            return
        self.conn.write(self.core.send(await self._decide(event)))
        if self._accepted is not None:
            (sender, rcpts, size), self._accepted = self._accepted, None
            log.info("accepted from=<%s> rcpts=%d size=%d", sender, rcpts, size)
        if self.core.phase in (smtp.Phase.FRESH, smtp.Phase.GREETED):
            self.txn = None  # the core ended the transaction (reset, error, or delivery)

    async def _decide(self, event: smtp.SmtpEvent | sasl.SaslEvent) -> smtp.Reply:
        match event:
            case smtp.Helo(name=name, extended=extended):
                self.helo, self.extended, self.txn = name, extended, None
                return self.core.ehlo_reply()
            case sasl.AuthStart() | sasl.AuthResponse():
                return await self._auth(event)
            case smtp.MailFrom():
                return await self._mail(event)
            case smtp.RcptTo():
                return await self._rcpt(event)
            case smtp.DataStart():
                return replies.start_mail_input()
            case smtp.BdatChunk(size=size):
                return replies.chunk_received(size)
            case smtp.MessageComplete():
                return await self._message(event)
            case smtp.Rset():
                self.txn = None
                return replies.ok()
            case smtp.Vrfy():
                return replies.cannot_verify()  # never enumerate users
            case smtp.Expn():
                return replies.not_implemented("EXPN is not available")
            case smtp.Help():
                return replies.help_text()
            case smtp.Quit():
                return replies.closing(self.hostname)
            case smtp.Rejected(reply=reply):
                return reply
            case _:
                return replies.ok()

    # -- AUTH (RFC 4954) ---------------------------------------------------------------------

    async def _auth(self, event: sasl.SaslEvent) -> smtp.Reply:
        # The core hands over the client's text as sent; only the mechanism decodes it.
        if isinstance(event, sasl.AuthStart):
            # The core lets AUTH through only where it offers it: all its mechanisms apply.
            self.exchange = SaslExchange(self.services.authenticator, remote_ip=self.ip,
                                         allowed=self.core.sasl_mechanisms)
            try:
                # Dropped (ConnectionClosed) if the client hangs up while it waits (issue 12).
                result = await self.conn.unless_closed(
                    self.exchange.start(event.mechanism, event.initial))
            except sasl.MechanismNotAllowed:
                return replies.encryption_required()
            except sasl.SaslError:
                return replies.auth_unknown_mechanism()
        else:
            assert self.exchange is not None
            result = await self.conn.unless_closed(self.exchange.step(event.line))
        return self._auth_result(result)

    def _auth_result(self, result: ExchangeResult) -> smtp.Reply:
        if isinstance(result, sasl.Challenge):
            return replies.auth_challenge(result)
        self.exchange = None
        if result is SaslOutcome.REJECTED:
            return replies.auth_failed()
        if result is SaslOutcome.CANCELLED:
            return replies.auth_cancelled()
        if result is SaslOutcome.UNAVAILABLE:  # too many logins waiting for a hash
            return replies.auth_temporary_failure()
        if result is SaslOutcome.BAD_BASE64:
            return replies.auth_bad_base64()
        if isinstance(result, SaslOutcome):  # a message the mechanism cannot read
            return replies.auth_malformed()
        self.principal = result
        log.info("auth user=%s", result.address)
        return replies.auth_succeeded()

    # -- the mail transaction ----------------------------------------------------------------

    async def _mail(self, event: smtp.MailFrom) -> smtp.Reply:
        sender = "" if event.address is None else event.address.text
        sender_user_id = None
        if self.submission:
            assert self.principal is not None  # the core requires AUTH first on submission
            user = await self.services.store.get_user_by_id(self.principal.user_id)
            # The null reverse-path (read receipts, RFC 8098 3) names no one to own; it only
            # says that nothing answers the message. Recipients are routed as for any mail.
            if user is None or (sender and not await self.services.router.may_send_as(
                    user, sender)):
                return replies.sender_not_owned(sender, self.principal.address)
            sender_user_id = user.id
        user_name = self.principal.address if self.principal is not None else None
        if refused := await self._gate.mail(sender, user_name):
            return refused
        p = event.params
        # RFC 5321 4.3.2 lists 452 for MAIL; RFC 1870 6.1 for a SIZE that does not fit now
        if not self.services.store.has_room(p.size or 0):
            return replies.storage_full()
        self.txn = DeliveryTransaction(
            mail_from=sender, smtputf8=p.smtputf8, body=p.body, envid=p.envid, ret=p.ret,
            sender_user_id=sender_user_id, requiretls=p.requiretls)
        trust = self.services.trust
        if trust is not None and not self.submission:
            self._drop_spf()
            self._spf = trust.begin(ip=self.ip, helo=self.helo, mail_from=sender)
        return replies.sender_ok()

    async def _rcpt(self, event: smtp.RcptTo) -> smtp.Reply:
        assert self.txn is not None
        addr = event.address
        # RFC 5321 4.1.1.3: the bare <Postmaster> goes to the postmaster of our first domain.
        domain = addr.domain or self.services.config.server.default_domain
        text = addr.text if addr.domain else f"postmaster@{domain}"
        if refused := await self._gate.listed(text):
            return refused
        router = self.services.router
        if await router.is_local_domain(domain):
            route = await router.resolve(text)
            if route.empty:
                return replies.no_such_user()
            if reply := await self._quota_check(route):
                return reply
        elif self.submission:
            route = Route(remote=(text,))
        else:
            return replies.relay_denied()  # no open relay
        if refused := await self._gate.admit(text, self._spf):
            return refused
        orcpt = event.params.orcpt.text if event.params.orcpt else None
        self.txn.add_recipient(AcceptedRecipient(text, route, event.params.notify, orcpt))
        return replies.recipient_ok()

    async def _quota_check(self, route: Route) -> smtp.Reply | None:
        """452 4.2.2 at RCPT time for a local recipient already over quota (RFC 3463)."""
        store = self.services.store
        size = self.core.mail_params.size if self.core.mail_params else None
        for user in route.local_users:  # as read while routing: no second lookup
            if not user.quota_bytes:
                continue
            used, _count = await store.quota_usage(user.id)
            # Any message has at least one octet: a mailbox exactly at its quota is full.
            if not fits_quota(used, max(size or 0, 1), user.quota_bytes):
                return replies.mailbox_full_temporary()
        return None

    async def _message(self, event: smtp.MessageComplete) -> smtp.Reply:
        assert self.txn is not None
        txn, self.txn = self.txn, None
        data = event.data
        if event.via == "BDAT" and (txn.body or "").upper() != "BINARYMIME":
            data = normalize_newlines(data)
        now = self.services.clock.now()
        self.messages += 1
        message_id = f"{self.sid}.{self.messages}"
        if self.submission:
            data = submission_fixes(data, hostname=self.hostname, when=now)
        junk = False
        if self.services.trust is not None and not self.submission:
            judged = await self._judge(data, txn)
            if isinstance(judged, smtp.Reply):
                return judged
            data, junk = judged
        screened = await self._gate.content(data, Envelope(
            ip=self.ip, helo=self.helo, mail_from=txn.mail_from,
            recipients=[r.address for r in txn.recipients], queue_id=message_id,
            user=self.principal.address if self.principal else ""))
        if isinstance(screened, smtp.Reply):
            return screened
        data, spam_fields, spam_junk = screened
        txn.check_fields += spam_fields
        junk = junk or spam_junk
        trace = TraceInfo(helo=self.helo, peer_ip=self.ip, hostname=self.hostname,
                          session_id=message_id, protocol=self._protocol_name(),
                          tls=self._tls_text(), when=now)
        try:
            # A submission with local recipients is signed now, for them and the queue alike
            data = await sign_submission(txn, data, store=self.services.store,
                                         keys=self.services.dkim_keys, when=now)
            # The 250 goes out only after this returns: the message is durably committed
            # for every accepted recipient (one store transaction).
            skipped = await txn.commit(self.services.store, data, trace=trace,
                                       internaldate=now, junk=junk)
        except QuotaExceeded:
            log.info("refused over quota from=<%s>", txn.mail_from)
            return replies.mailbox_full()
        except StorageFull:  # the store logged the full disk once; no traceback per message
            log.info("refused for lack of storage from=<%s>", txn.mail_from)
            return replies.storage_full()
        except StoreError:
            log.exception("delivery failed from=<%s>", txn.mail_from)
            return replies.local_error()
        self._accepted = (txn.mail_from, len(txn.recipients), len(data))
        local = [u for u in txn.local_user_ids() if u not in skipped]
        self.services.metrics.message_received(self.ctx.protocol, len(local))
        self._gate.accepted()
        if skipped:
            services = self.services
            await notify_over_quota(services.store, services.router, txn, skipped, data, now,
                                    hostname=services.hostname, wake=services.queue_waker)
        if txn.outbound() is not None and self.services.queue_waker is not None:
            self.services.queue_waker()
        if local and self.services.vacation is not None:  # RFC 3834 auto-replies
            rcpts = {u: [r.address for r in txn.recipients_of(u)] for u in local}
            await self.services.vacation.after_delivery(local, txn.mail_from, rcpts, data,
                                                        now)
        return replies.message_accepted(message_id)

    async def _judge(self, data: bytes,
                     txn: DeliveryTransaction) -> tuple[bytes, bool] | smtp.Reply:
        """Port 25: the message without forged Authentication-Results (ours go into
        ``txn.check_fields``), and whether it goes to Junk; or the 550 of a DMARC reject.
        A failure of the checks themselves is logged and the message delivered without
        them: the checks never lose mail."""
        trust = self.services.trust
        assert trust is not None
        pending, self._spf = self._spf or PendingChecks(None), None
        try:
            data, verdict = await trust.judge(data, pending)
        except Exception:  # any bug in a check must neither refuse nor lose mail
            log.exception("trust checks failed from=<%s>; delivered unchecked", txn.mail_from)
            return data, False
        dmarc = verdict.dmarc
        if verdict.disposition == "reject" and dmarc is not None:
            log.info("refused by DMARC from=<%s> header.from=%s p=%s", txn.mail_from,
                     dmarc.from_domain, dmarc.policy)
            return replies.dmarc_rejected(dmarc.from_domain)
        if verdict.disposition == "junk":
            log.info("filed in Junk by DMARC from=<%s> header.from=%s", txn.mail_from,
                     dmarc.from_domain if dmarc else "-")
        txn.check_fields = verdict.fields  # above Received (RFC 7208 9.1, RFC 8601 5)
        return data, verdict.disposition == "junk"

    def _protocol_name(self) -> str:
        """RFC 3848 WITH protocol types."""
        if not self.extended:
            return "SMTP"
        return "ESMTP" + ("S" if self.conn.is_tls else "") + ("A" if self.principal else "")

    def _tls_text(self) -> str | None:
        if not self.conn.is_tls:
            return None
        return f"{self.conn.tls_version} {self.conn.tls_cipher or ''}".strip()
