"""Sender authentication of mail arriving on port 25: SPF, DKIM, ARC and DMARC, recorded in
an Authentication-Results field (RFC 8601) and turned into a disposition; iprev (RFC 8601 3)
and a HELO check recorded there too, never acted on.

The SPF and iprev checks start when MAIL FROM is accepted and runs while the client sends RCPT and
DATA; DKIM, ARC and DMARC need the message and run at the end of DATA, their lookups
concurrently. Every lookup goes through the server's one Resolver (cached, time-bounded).
A DNS failure never refuses mail here: the temperror is recorded and the message delivered.

Dispositions: ``reject`` (DMARC p=reject failed, when [checks] dmarc_reject: 550 5.7.1 at
the end of DATA, RFC 7489 10.3), ``junk`` (p=quarantine, or p=reject without dmarc_reject:
filed in the recipient's \\Junk mailbox), ``deliver``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from posthouse.clock import Clock
from posthouse.config import ChecksConfig
from posthouse.dns.resolver import Resolver
from posthouse.mailauth.arc import verify_arc
from posthouse.mailauth.authresults import authentication_results, strip_forged
from posthouse.mailauth.dkim_verify import DkimResult, verify_dkim
from posthouse.mailauth.dmarc import DmarcResult, evaluate_dmarc
from posthouse.mailauth.iprev import check_helo_name, check_iprev
from posthouse.mailauth.spf import SpfLimits, check_helo, check_mail_from
from posthouse.mailauth.spf_header import received_spf_field, spf_resinfo

log = logging.getLogger("posthouse.trust")


@dataclass(frozen=True, slots=True)
class SpfOutcome:
    """An SPF verdict: the result, the domain it speaks for (MAIL FROM's, or HELO's for a
    null sender, RFC 7208 2.4), and its Authentication-Results resinfo."""

    result: str
    domain: str
    resinfo: str
    received_spf: bytes = b""  # an optional Received-SPF field (RFC 7208 9.1), CRLF ended
    helo_resinfo: str = ""  # the separate HELO check (RFC 7208 2.3), "" when not made


def spf_check(resolver: Resolver, receiver: str, total_seconds: float) -> SpfCheck:
    """The RFC 7208 check of MAIL FROM (HELO's domain for a null sender, 2.4) as an
    SpfCheck: the Authentication-Results resinfo and a Received-SPF field."""
    limits = SpfLimits(total_seconds=total_seconds)

    async def check(ip: str, helo: str, mail_from: str) -> SpfOutcome:
        # RFC 7208 2.3 recommends checking HELO separately too; with a null sender the
        # MAIL FROM check already is the HELO check (2.4).
        helo_task = (asyncio.ensure_future(check_helo(
                         resolver, ip, helo, receiver=receiver, limits=limits))
                     if mail_from and helo else None)
        try:
            verdict = await check_mail_from(resolver, ip, mail_from, helo,
                                            receiver=receiver, limits=limits)
            helo_verdict = await helo_task if helo_task is not None else None
        finally:
            if helo_task is not None:
                helo_task.cancel()
        log.debug("spf %s from=<%s> peer=%s helo=%s %s", verdict.result.value, mail_from, ip,
                  helo, verdict.problem)
        return SpfOutcome(verdict.result.value, verdict.domain, spf_resinfo(verdict),
                          received_spf_field(verdict, receiver),
                          spf_resinfo(helo_verdict) if helo_verdict is not None else "")

    return check


def arc_check(resolver: Resolver) -> ArcCheck:
    """RFC 8617 chain validation as an ArcCheck. Recorded only: no disposition depends on
    it (trusting a sealer's word over a DMARC failure is the receiver's local policy, and
    posthouse has no list of trusted sealers yet)."""

    async def check(data: bytes, remote_ip: str) -> str:
        result = await verify_arc(data, resolver)
        if result.result != "none":
            log.debug("arc %s i=%d chain=%s %s", result.result, result.instance,
                      ",".join(result.chain), result.reason)
        return result.resinfo(remote_ip) if result.result != "none" else result.resinfo()

    return check


# (client ip, HELO name, MAIL FROM address) -> verdict
SpfCheck = Callable[[str, str, str], Awaitable[SpfOutcome]]
ArcCheck = Callable[[bytes, str], Awaitable[str]]  # (message, client ip) -> arc resinfo


@dataclass(frozen=True, slots=True)
class TrustVerdict:
    """What the checks decided and the fields to prepend to the message."""

    disposition: str  # deliver, junk or reject
    fields: bytes
    dmarc: DmarcResult | None = None
    forged_removed: int = 0


class PendingChecks:
    """The checks of one transaction that start at MAIL FROM: SPF and iprev/HELO."""

    def __init__(self, task: asyncio.Task[SpfOutcome] | None,
                 iprev: asyncio.Task[str] | None = None, *, ip: str = "") -> None:
        self._task = task
        self._iprev = iprev
        self.ip = ip  # the client's address, for results that name it

    async def outcome(self) -> SpfOutcome | None:
        """The SPF verdict (None when SPF is off); may be awaited more than once."""
        return None if self._task is None else await self._task

    async def spf_passed(self) -> bool:
        """Whether SPF passed (False when it is off or the check failed)."""
        try:
            outcome = await self.outcome()
        except Exception:  # a bug in the check is logged by judge; here it is no pass
            return False
        return outcome is not None and outcome.result == "pass"

    async def iprev_resinfo(self) -> str | None:
        """The iprev resinfo with its HELO note (None when the check is off)."""
        return None if self._iprev is None else await self._iprev

    def cancel(self) -> None:
        """The transaction ended without a message (RSET, QUIT, a vanished client)."""
        for task in (self._task, self._iprev):
            if task is not None:
                task.cancel()


def _retrieve(task: asyncio.Task[SpfOutcome] | asyncio.Task[str]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("trust: a check of an abandoned transaction failed: %r", task.exception())


class InboundTrust:
    """Runs the configured checks for port 25 transactions."""

    def __init__(self, resolver: Resolver, config: ChecksConfig, *, authserv_id: str,
                 clock: Clock, spf: SpfCheck | None = None, arc: ArcCheck | None = None,
                 sample: Callable[[], float] = random.random) -> None:
        self._resolver = resolver
        self._config = config
        self.authserv_id = authserv_id
        self._clock = clock
        self._spf = spf if config.spf else None
        self._arc = arc if config.arc else None
        self._sample = sample

    def begin(self, *, ip: str, helo: str, mail_from: str) -> PendingChecks:
        """Start the SPF and iprev checks of a transaction whose MAIL FROM was accepted."""
        task = iprev = None
        if self._spf is not None:
            task = asyncio.ensure_future(self._spf(ip, helo, mail_from))
            task.add_done_callback(_retrieve)  # a transaction reset before DATA never awaits
        if self._config.iprev:
            iprev = asyncio.ensure_future(self._iprev(ip, helo))
            iprev.add_done_callback(_retrieve)
        return PendingChecks(task, iprev, ip=ip)

    async def _iprev(self, ip: str, helo: str) -> str:
        """The iprev resinfo (RFC 8601 2.7.3) with the HELO check in its comment (2.2)."""
        helo_task = (asyncio.ensure_future(check_helo_name(self._resolver, helo, ip))
                     if self._config.helo_check else None)
        result = await check_iprev(self._resolver, ip)
        note = await helo_task if helo_task is not None else ""
        log.debug("iprev peer=%s %s %s", ip, result.result, note)
        return result.resinfo(note)

    async def judge(self, data: bytes,
                    pending: PendingChecks) -> tuple[bytes, TrustVerdict]:
        """``data`` without forged Authentication-Results, and the verdict whose fields
        the caller prepends."""
        data, forged = strip_forged(data, self.authserv_id)
        if forged:
            log.info("trust: removed %d Authentication-Results claiming %s", forged,
                     self.authserv_id)
        dkim_task = asyncio.ensure_future(self._dkim(data))
        arc_task = (asyncio.ensure_future(self._arc(data, pending.ip))
                    if self._arc is not None else None)
        spf = await pending.outcome()
        dkim = await dkim_task
        arc = await arc_task if arc_task is not None else None
        dmarc = None
        if self._config.dmarc:
            dmarc = await evaluate_dmarc(
                data, self._resolver, spf_result=spf.result if spf else "none",
                spf_domain=spf.domain if spf else "", dkim=dkim, sample=self._sample)
        resinfos = []
        iprev = await pending.iprev_resinfo()
        if iprev:
            resinfos.append(iprev)
        if spf is not None:
            resinfos.append(spf.resinfo)
            if spf.helo_resinfo:
                resinfos.append(spf.helo_resinfo)
        if self._config.dkim:
            resinfos.extend([r.resinfo() for r in dkim] or ["dkim=none"])
        if arc is not None:
            resinfos.append(arc)
        if dmarc is not None:
            resinfos.append(dmarc.resinfo())
        fields = authentication_results(self.authserv_id, resinfos)
        if spf is not None and spf.received_spf:
            fields = spf.received_spf + fields
        return data, TrustVerdict(self._disposition(dmarc), fields, dmarc, forged)

    async def _dkim(self, data: bytes) -> tuple[DkimResult, ...]:
        if not self._config.dkim and not self._config.dmarc:
            return ()
        return await verify_dkim(data, self._resolver, now=int(self._clock.now().timestamp()))

    def _disposition(self, dmarc: DmarcResult | None) -> str:
        if dmarc is None or dmarc.result != "fail":
            return "deliver"
        if dmarc.disposition == "reject":
            return "reject" if self._config.dmarc_reject else "junk"
        return "junk" if dmarc.disposition == "quarantine" else "deliver"
