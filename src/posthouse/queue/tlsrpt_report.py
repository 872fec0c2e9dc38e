"""TLS-RPT aggregate reports (RFC 8460): built from a day's results, sent by mail.

For each policy domain with results on a past UTC day and a ``v=TLSRPTv1`` record at
``_smtp._tls.<domain>`` naming ``mailto:`` addresses, the JSON report of RFC 8460 4 is
gzipped and queued as a multipart/report message (RFC 8460 5.3) through the ordinary
outbound queue. The day's file is removed once its reports are queued. ``https:``
reporting addresses are not supported (logged and skipped).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from posthouse.clock import Clock
from posthouse.dns.resolver import Resolver
from posthouse.queue.tlsrpt import PolicyRef, SessionResult, TlsResultLog
from posthouse.store.api import Store
from posthouse.store.models import OutboundEnvelope, OutboundRecipient

log = logging.getLogger("posthouse.queue")


def parse_tlsrpt_record(records: tuple[str, ...]) -> list[str]:
    """The mailto: addresses of the one ``v=TLSRPTv1`` record (RFC 8460 3); none when
    there is not exactly one."""
    ours = [r for r in records if r.replace(" ", "").startswith("v=TLSRPTv1;")]
    if len(ours) != 1:
        return []
    fields: dict[str, str] = {}
    for part in ours[0].split(";"):
        key, eq, value = part.strip().partition("=")
        if eq:
            fields.setdefault(key.strip(), value.strip())
    out = []
    for uri in fields.get("rua", "").split(","):
        uri = uri.strip()
        if uri.lower().startswith("mailto:") and "@" in uri:
            out.append(uri[7:].split("?", 1)[0])
        elif uri:
            log.info("tls-rpt: reporting address %s not supported", uri)
    return out


def _policy_json(ref: PolicyRef) -> dict[str, Any]:
    policy: dict[str, Any] = {"policy-type": ref.policy_type, "policy-domain": ref.domain}
    if ref.policy_string:
        policy["policy-string"] = list(ref.policy_string)
    if ref.mx_host:
        policy["mx-host"] = list(ref.mx_host)
    return policy


def build_report(domain: str, results: list[SessionResult], *, day: str, submitter: str,
                 report_id: str) -> dict[str, Any]:
    """The JSON report (RFC 8460 4.4) for one policy domain and one UTC day."""
    by_policy: dict[PolicyRef, list[SessionResult]] = {}
    for r in results:
        by_policy.setdefault(r.policy, []).append(r)
    policies = []
    for ref, items in by_policy.items():
        failures: dict[tuple[str, str, str, str, str], int] = {}
        for r in items:
            if not r.ok:
                key = (r.result_type, r.receiving_mx, r.receiving_ip, r.detail[:200],
                       r.sending_ip)
                failures[key] = failures.get(key, 0) + 1
        details = []
        for (kind, mx, ip, reason, ours), count in failures.items():
            detail: dict[str, Any] = {"result-type": kind, "failed-session-count": count}
            if ours:
                detail["sending-mta-ip"] = ours
            if mx:
                detail["receiving-mx-hostname"] = mx
            if ip:
                detail["receiving-ip"] = ip
            if reason:
                detail["failure-reason-code"] = reason
            details.append(detail)
        entry: dict[str, Any] = {
            "policy": _policy_json(ref),
            "summary": {"total-successful-session-count": sum(r.ok for r in items),
                        "total-failure-session-count": sum(not r.ok for r in items)},
        }
        if details:
            entry["failure-details"] = details
        policies.append(entry)
    return {
        "organization-name": submitter,
        "date-range": {"start-datetime": f"{day}T00:00:00Z",
                       "end-datetime": f"{day}T23:59:59Z"},
        "contact-info": f"postmaster@{submitter}",
        "report-id": report_id,
        "policies": policies,
    }


def report_message(report: dict[str, Any], *, domain: str, submitter: str, day: str,
                   recipients: list[str], now: datetime) -> bytes:
    """The report as mail (RFC 8460 5.3): multipart/report; report-type="tlsrpt" with the
    gzipped JSON as application/tlsrpt+gzip."""
    start = int(datetime.fromisoformat(f"{day}T00:00:00+00:00").timestamp())
    end = start + 86400 - 1
    unique = report["report-id"].split("@")[0]
    filename = f"{submitter}!{domain}!{start}!{end}!{unique}.json.gz"  # RFC 8460 5.1
    msg = EmailMessage()
    msg["From"] = f"TLS reporting <noreply-smtp-tls-reporting@{submitter}>"
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = (f"Report Domain: {domain} Submitter: {submitter} "
                      f"Report-ID: <{report['report-id']}>")
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=submitter)
    msg["TLS-Report-Domain"] = domain
    msg["TLS-Report-Submitter"] = submitter
    msg.set_content(f"This is an aggregate TLS report from {submitter} for {domain}, "
                    f"{day} (RFC 8460).\n")
    payload = gzip.compress(json.dumps(report, indent=1).encode("utf-8"), mtime=0)
    msg.add_attachment(payload, maintype="application", subtype="tlsrpt+gzip",
                       filename=filename)
    msg.set_type("multipart/report")
    msg.set_param("report-type", "tlsrpt")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


class TlsReporter:
    """Sends the reports of past days: ``send_due`` once, or ``run`` every hour."""

    def __init__(self, *, results: TlsResultLog, resolver: Resolver, store: Store,
                 submitter: str, clock: Clock, wake: Callable[[], None] = lambda: None,
                 ) -> None:
        self._results = results
        self._resolver = resolver
        self._store = store
        self._submitter = submitter
        self._clock = clock
        self._wake = wake

    def past_days(self) -> list[str]:
        """Days before today with results not yet sent."""
        today = self._clock.now().date().isoformat()
        return sorted(p.stem for p in self._results.directory.glob("*.jsonl")
                      if p.stem < today)

    async def send_due(self, *, include_today: bool = False) -> list[int]:
        """Queue the reports of every past day (and today's, if asked); queue ids."""
        days = self.past_days()
        if include_today:
            days.append(self._clock.now().date().isoformat())
        queued: list[int] = []
        for day in days:
            queued += await self.send_day(day)
        return queued

    async def send_day(self, day: str) -> list[int]:
        """Queue one day's reports, then drop its results."""
        by_domain: dict[str, list[SessionResult]] = {}
        for r in self._results.read_day(day):
            by_domain.setdefault(r.policy.domain, []).append(r)
        queued = []
        for domain, results in sorted(by_domain.items()):
            answer = await self._resolver.txt(f"_smtp._tls.{domain}")
            rua = parse_tlsrpt_record(answer) if isinstance(answer, tuple) else []
            if not rua:
                continue
            report_id = f"{day}.{secrets.token_hex(8)}@{self._submitter}"
            report = build_report(domain, results, day=day, submitter=self._submitter,
                                  report_id=report_id)
            data = report_message(report, domain=domain, submitter=self._submitter, day=day,
                                  recipients=rua, now=self._clock.now())
            # The null reverse-path: a report that cannot be delivered makes no bounce.
            queued.append(await self._store.enqueue(data, OutboundEnvelope(
                mail_from="", recipients=tuple(OutboundRecipient(a) for a in rua))))
            log.info("tls-rpt: report for %s (%s) queued to %s", domain, day, ",".join(rua))
        with contextlib.suppress(FileNotFoundError):
            self._results.day_file(day).unlink()
        if queued:
            self._wake()
        return queued

    async def run(self, every: float = 3600.0) -> None:
        """Send what is due, then again every ``every`` seconds, until cancelled."""
        while True:
            try:
                await self.send_due()
            except Exception:
                log.exception("tls-rpt: sending reports failed")
            await asyncio.sleep(every)

