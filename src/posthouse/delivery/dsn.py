"""Delivery status notifications: multipart/report (RFC 6522) with message/delivery-status
(RFC 3464), honouring the sender's DSN requests (RFC 3461).

When an address is non-ASCII the RFC 6533 types are used instead (message/global-delivery-
status, message/global, message/global-headers) with "utf-8" address types.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from posthouse.delivery.headers import has_8bit, strip_return_path
from posthouse.message.headers import header_block
from posthouse.store.models import OutboundEnvelope

# Without RET, a failure DSN returns the whole message only up to this size (RFC 3461 4.3
# leaves the choice to the MTA); larger ones get their header section only.
FULL_RETURN_LIMIT = 128 * 1024

FAILED, DELAYED, DELIVERED, RELAYED = "failed", "delayed", "delivered", "relayed"
_NOTIFY_FOR = {FAILED: "FAILURE", DELAYED: "DELAY", DELIVERED: "SUCCESS", RELAYED: "SUCCESS"}


@dataclass(frozen=True, slots=True)
class RecipientReport:
    """One recipient's fields of the delivery-status part (RFC 3464 2.3)."""

    address: str
    action: str  # failed | delayed | delivered | relayed
    status: str  # RFC 3463 code, e.g. "5.1.1"
    orcpt: str | None = None  # "addr-type;address", already xtext-decoded
    remote_mta: str | None = None
    diagnostic: str | None = None  # the remote SMTP reply, e.g. "550 5.1.1 no such user"
    last_attempt: datetime | None = None
    will_retry_until: datetime | None = None
    explanation: str | None = None  # for people: why, when there is no remote reply


@dataclass(frozen=True, slots=True)
class Dsn:
    """A built notification and what its transport needs (8-bit content, UTF-8 headers)."""

    data: bytes
    eightbit: bool
    smtputf8: bool


def wants(notify: Sequence[str], action: str) -> bool:
    """Whether a recipient's NOTIFY asks for a DSN of this action (RFC 3461 4.1): NEVER
    means none; no NOTIFY means failures only."""
    events = {n.upper() for n in notify}
    if "NEVER" in events:
        return False
    if not events:
        return action == FAILED
    return _NOTIFY_FOR[action] in events


def return_full(envelope: OutboundEnvelope, size: int, action: str) -> bool:
    """Whether the original goes back whole: failures only (RFC 3461 4.3), per RET, and by
    default only when small."""
    if action != FAILED or (envelope.ret or "").upper() == "HDRS":
        return False
    return (envelope.ret or "").upper() == "FULL" or size <= FULL_RETURN_LIMIT


def _clean(text: str, utf8: bool) -> str:
    """No CR/LF/controls in a field; non-ASCII only in the RFC 6533 form."""
    out = "".join(ch if ch.isprintable() else " " for ch in text)
    return out if utf8 else out.encode("ascii", "replace").decode("ascii")


def _addr_type(address: str, utf8: bool) -> str:
    return f"{'utf-8' if utf8 and not address.isascii() else 'rfc822'};{address}"


def _recipient_fields(r: RecipientReport, utf8: bool) -> list[str]:
    fields = []
    if r.orcpt:
        fields.append(f"Original-Recipient: {_clean(r.orcpt, utf8)}")
    fields += [f"Final-Recipient: {_clean(_addr_type(r.address, utf8), utf8)}",
               f"Action: {r.action}", f"Status: {r.status}"]
    if r.remote_mta:
        fields.append(f"Remote-MTA: dns; {_clean(r.remote_mta, utf8)}")
    if r.diagnostic:
        fields.append(f"Diagnostic-Code: smtp; {_clean(r.diagnostic, utf8)}")
    if r.last_attempt:
        fields.append(f"Last-Attempt-Date: {format_datetime(r.last_attempt)}")
    if r.will_retry_until:
        fields.append(f"Will-Retry-Until: {format_datetime(r.will_retry_until)}")
    return fields


def status_part(*, hostname: str, envelope: OutboundEnvelope, arrival: datetime,
                recipients: Sequence[RecipientReport], utf8: bool) -> bytes:
    """The message/delivery-status body: per-message fields, then one group per recipient."""
    head = [f"Reporting-MTA: dns; {hostname}"]
    if envelope.envid:
        head.append(f"Original-Envelope-Id: {_clean(envelope.envid, utf8)}")
    head.append(f"Arrival-Date: {format_datetime(arrival)}")
    groups = ["\r\n".join(head)] + ["\r\n".join(_recipient_fields(r, utf8)) for r in recipients]
    return ("\r\n\r\n".join(groups) + "\r\n").encode()


_INTRO = {
    FAILED: "Your message could not be delivered to one or more recipients.\r\n"
            "It has been returned below; the reasons are:",
    DELAYED: "Your message has not been delivered yet to the recipients below.\r\n"
             "Delivery will be tried again; you do not need to resend it.",
    DELIVERED: "Your message was delivered to the recipients below.",
    RELAYED: "Your message was passed on to a system that sends no further notices:",
}
_SUBJECT = {
    FAILED: "Undelivered Mail Returned to Sender",
    DELAYED: "Delayed Mail (still being retried)",
    DELIVERED: "Successful Mail Delivery Report",
    RELAYED: "Successful Mail Delivery Report",
}


def _human_part(hostname: str, action: str, recipients: Sequence[RecipientReport]) -> bytes:
    lines = [f"This is the mail system at host {hostname}.", "", _INTRO[action], ""]
    for r in recipients:
        line = f"<{_clean(r.address, True)}>"
        if r.diagnostic:
            line += f": host {r.remote_mta or 'unknown'} said: {_clean(r.diagnostic, True)}"
        elif r.explanation:
            line += f": {_clean(r.explanation, True)}"
        lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode()


def build_dsn(*, hostname: str, envelope: OutboundEnvelope, original: bytes,
              arrival: datetime, now: datetime, recipients: Sequence[RecipientReport],
              ) -> Dsn:
    """A complete notification for ``envelope.mail_from``; all ``recipients`` share one
    action. The caller checks ``wants`` and the null sender beforehand."""
    action = recipients[0].action
    original = strip_return_path(original)
    utf8 = not all(a.isascii() for a in [envelope.mail_from, *(r.address for r in recipients)])
    boundary = f"=_{secrets.token_hex(12)}"
    full = return_full(envelope, len(original), action)
    returned = original if full else header_block(original)
    kinds = (("message/global-delivery-status", "message/global", "message/global-headers")
             if utf8 else ("message/delivery-status", "message/rfc822", "text/rfc822-headers"))
    orig_type = kinds[1] if full else kinds[2]
    parts = [
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + _human_part(hostname, action, recipients),
        f"Content-Type: {kinds[0]}\r\n\r\n".encode()
        + status_part(hostname=hostname, envelope=envelope, arrival=arrival,
                      recipients=recipients, utf8=utf8),
        f"Content-Type: {orig_type}\r\n".encode()
        + (b"Content-Transfer-Encoding: 8bit\r\n" if has_8bit(returned) else b"")
        + b"\r\n" + returned,
    ]
    head = (
        f"From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n"
        f"To: <{_clean(envelope.mail_from, True)}>\r\n"
        f"Subject: {_SUBJECT[action]}\r\n"
        f"Date: {format_datetime(now)}\r\n"
        f"Message-ID: <{secrets.token_hex(12)}@{hostname}>\r\n"
        "Auto-Submitted: auto-replied\r\n"  # RFC 3834 5: never answered automatically
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="{boundary}"'
        "\r\n\r\nThis is a MIME-encapsulated delivery status notification.\r\n"
    ).encode()
    body = b"".join(f"\r\n--{boundary}\r\n".encode() + p for p in parts)
    data = head + body + f"\r\n--{boundary}--\r\n".encode()
    return Dsn(data, has_8bit(data), utf8 or not header_block(data).isascii())
