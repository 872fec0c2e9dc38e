"""The anti-abuse decisions of one SMTP session ([antiabuse]): the greeting pause, DNS
blocklists, rate limits, greylisting and the rspamd scan, each asked at its point of the
dialogue. The filters run on port 25 only; submission gets the per-user rate limits.

Owns the per-session state (the blocklist lookup started at connect, the rate keys of the
transaction) and the choice of reply; the mechanisms live in delivery/ (blocklists, rates,
greylist, rspamd). Never refuses on DNS or rspamd trouble: those deliver.

Where a listed client is refused: at RCPT, not in the greeting. The lookup starts at connect
and runs while the client says EHLO and MAIL, so it costs no wait; the 554 names each
recipient in the client's bounce; postmaster stays reachable (RFC 5321 4.5.1); and a 554
greeting would oblige us to keep the session open until QUIT (RFC 5321 3.1).
"""

from __future__ import annotations

import asyncio
import logging

from posthouse.delivery.blocklists import Listing
from posthouse.delivery.rates import Limit, ip_key
from posthouse.delivery.rspamd import Envelope, SpamVerdict, apply_verdict
from posthouse.delivery.trust import PendingChecks
from posthouse.dns.idn import canonical_address
from posthouse.mailauth.dmarc import author_domains
from posthouse.net.connection import Connection, GraceExpired
from posthouse.services import Services
from posthouse.smtp import Reply, replies

log = logging.getLogger("posthouse.antiabuse")


async def early_talker(conn: Connection, pause_seconds: float) -> bool:
    """Wait ``pause_seconds`` before the greeting; True when the client sent anything in
    that time (RFC 5321 4.3.1: the client waits for the 220) or hung up."""
    if pause_seconds <= 0:
        return False
    try:
        await conn.read(pause_seconds)
    except (TimeoutError, GraceExpired):  # shutting down: the session's loop says 421
        return False
    return True


class AbuseGate:
    """One session's filters: ``mail``, ``listed`` and ``admit`` (RCPT), ``content``."""

    def __init__(self, services: Services, ip: str, *, submission: bool) -> None:
        self._services = services
        self._config = services.config.antiabuse
        self._ip = ip
        self._filter = not submission  # blocklists, greylisting and rspamd: port 25 only
        self._ip_listing: asyncio.Task[Listing | None] | None = None
        self._sender_listing: asyncio.Task[Listing | None] | None = None
        self._keys: dict[str, Limit] = {}
        self._sender = ""
        self.junk = False  # a blocklist said "junk"
        blocklists = services.blocklists
        if self._filter and blocklists is not None and blocklists.enabled:
            self._ip_listing = asyncio.ensure_future(blocklists.check_ip(ip))

    def close(self) -> None:
        """The session ended: stop lookups nobody will read."""
        for task in (self._ip_listing, self._sender_listing):
            if task is not None:
                task.cancel()

    # -- MAIL --------------------------------------------------------------------------------

    async def mail(self, sender: str, user: str | None) -> Reply | None:
        """451 4.7.1 when this client, sender or user is over its message rate; else start
        the sender domain's blocklist lookup."""
        ab = self._config
        keys: dict[str, Limit] = {}
        if user is not None:
            keys["user:" + user.lower()] = Limit(ab.user_messages_per_window,
                                                 ab.user_recipients_per_window)
        else:
            keys["ip:" + ip_key(self._ip)] = Limit(ab.ip_messages_per_window,
                                                   ab.ip_recipients_per_window)
            if sender:  # the null sender (bounces) is everyone's: no key of its own
                keys["from:" + canonical_address(sender)] = Limit(ab.sender_messages_per_window,
                                                       ab.sender_recipients_per_window)
        rates = self._services.rates
        if rates is not None and not rates.message_allowed(keys):
            log.info("rate limited: messages peer=%s from=<%s> user=%s", self._ip, sender,
                     user or "-")
            return replies.rate_limited(rates.seconds_left(keys))
        self._keys = keys
        self._sender = sender
        self.junk = False
        if self._sender_listing is not None:
            self._sender_listing.cancel()
            self._sender_listing = None
        blocklists = self._services.blocklists
        domain = sender.rpartition("@")[2]
        if self._filter and blocklists is not None and domain and not domain.startswith("["):
            self._sender_listing = asyncio.ensure_future(blocklists.check_domain(domain))
        return None

    # -- RCPT --------------------------------------------------------------------------------

    async def listed(self, recipient: str) -> Reply | None:
        """554 5.7.1 when the client's address or the sender's domain is listed (before
        routing: a listed client learns nothing of our users); postmaster is exempt."""
        if recipient.partition("@")[0].lower() == "postmaster":
            return None
        for what, task in (("your address " + self._ip, self._ip_listing),
                           (self._sender_domain(), self._sender_listing)):
            listing = await _listing(task)
            if listing is None:
                continue
            if listing.action == "junk":
                self.junk = True
                continue
            log.info("refused: %s listed by %s (%s) from=<%s>", what, listing.zone,
                     listing.code, self._sender)
            return replies.blocklisted(what, listing.zone)
        return None

    def _sender_domain(self) -> str:
        return "sender domain " + self._sender.rpartition("@")[2]

    async def admit(self, recipient: str, pending: PendingChecks | None) -> Reply | None:
        """A routed recipient: 452 4.5.3 over the recipient rate, 451 4.7.1 greylisted."""
        rates = self._services.rates
        if rates is not None and not rates.take_recipient(self._keys):
            log.info("rate limited: recipients peer=%s from=<%s>", self._ip, self._sender)
            return replies.too_many_recipients_for_now(rates.seconds_left(self._keys))
        greylist = self._services.greylist
        if greylist is None or not self._filter:
            return None
        if self._config.greylist_skip_spf_pass and pending is not None \
                and await pending.spf_passed():
            return None
        wait = await greylist.check(ip_key(self._ip, v4_prefix=24),
                                    canonical_address(self._sender),
                                    canonical_address(recipient))
        if wait > 0:
            log.info("greylisted peer=%s from=<%s> to=<%s>", self._ip, self._sender,
                     recipient)
            return replies.greylisted(int(wait) + 1)
        return None

    # -- end of DATA -------------------------------------------------------------------------

    async def content(self, data: bytes, envelope: Envelope) -> tuple[bytes, bytes, bool] | Reply:
        """The From domains' blocklists and the rspamd scan: the message (X-Spam fields of
        the sender removed, Subject maybe rewritten), the fields to put above Received, and
        whether it goes to Junk; or the refusal."""
        if not self._filter:
            return data, b"", False
        blocklists = self._services.blocklists
        junk = self.junk
        if blocklists is not None and self._config.domain_blocklists:
            for domain in author_domains(data)[:5]:
                listing = await blocklists.check_domain(domain)
                if listing is not None and listing.action == "junk":
                    junk = True
                elif listing is not None:
                    log.info("refused: From domain %s listed by %s", domain, listing.zone)
                    return replies.blocklisted("author domain " + domain, listing.zone)
        rspamd = self._services.rspamd
        if rspamd is None:
            return data, b"", junk
        try:
            verdict = await rspamd.scan(data, envelope)
        except Exception:  # a bug in the scan must neither refuse nor lose mail
            log.exception("rspamd scan failed from=<%s>; delivered unscanned",
                          envelope.mail_from)
            verdict = SpamVerdict("unchecked", reason="scan failed")
        return _act(data, verdict, junk, envelope)

    def accepted(self) -> None:
        """A message was committed: count it against the rates."""
        if self._services.rates is not None:
            self._services.rates.count_message(self._keys)


async def _listing(task: asyncio.Task[Listing | None] | None) -> Listing | None:
    if task is None:
        return None
    try:
        return await task
    except Exception:  # a bug in a lookup must not refuse mail
        log.exception("blocklist lookup failed; not listed")
        return None


def _act(data: bytes, verdict: SpamVerdict, junk: bool,
         envelope: Envelope) -> tuple[bytes, bytes, bool] | Reply:
    """rspamd's action as the session's answer."""
    action = verdict.action
    if action in ("reject", "soft reject", "greylist"):
        log.info("rspamd %s from=<%s> score=%.2f %s", action, envelope.mail_from,
                 verdict.score, verdict.reason)
        if action == "reject":
            return replies.spam_rejected(verdict.reason)
        return replies.spam_deferred(verdict.reason if action == "soft reject" else "")
    if verdict.is_spam:
        log.info("rspamd add header from=<%s> score=%.2f: filed in Junk", envelope.mail_from,
                 verdict.score)
    return apply_verdict(data, verdict), verdict.fields(), junk or verdict.is_spam
