"""Vacation auto-replies (RFC 3834; set through JMAP VacationResponse, RFC 8621 8).

Owns the stored settings and the reply rules. The settings are one JSON value per user in
the store's RFC 5464 metadata (a private server entry, so both backends keep it without a
schema change, and an IMAP client sees it under /private/vendor/posthouse/), with a second
entry that remembers whom it answered and when: one reply per sender per ``PERIOD``.
``VacationReplies.after_delivery`` runs once a message was committed for local users; it
never refuses or changes the delivery, and a failure is logged, not raised.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime, getaddresses
from typing import Any

from posthouse.delivery.submit import Submitter
from posthouse.message.headers import split_header
from posthouse.store.api import Store

log = logging.getLogger("posthouse.delivery")

SETTINGS = "/private/vendor/posthouse/vacation"
REPLIED = "/private/vendor/posthouse/vacation-replied"
PERIOD = timedelta(days=7)  # RFC 3834 4.1 leaves it to the responder; Sieve's default
MAX_REMEMBERED = 1000
_METADATA_ENTRIES = 10_000  # the two entries must fit whatever IMAP's limit allows


@dataclass(frozen=True, slots=True)
class VacationSettings:
    """The VacationResponse singleton (RFC 8621 8.1)."""

    is_enabled: bool = False
    from_date: str | None = None
    to_date: str | None = None
    subject: str | None = None
    text_body: str | None = None
    html_body: str | None = None

    def jmap(self) -> dict[str, Any]:
        return {"id": "singleton", "isEnabled": self.is_enabled, "fromDate": self.from_date,
                "toDate": self.to_date, "subject": self.subject, "textBody": self.text_body,
                "htmlBody": self.html_body}

    def active(self, now: datetime) -> bool:
        """Enabled, and now within fromDate..toDate (each optional)."""
        if not self.is_enabled:
            return False
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        return not ((self.from_date and stamp < self.from_date)
                    or (self.to_date and stamp >= self.to_date))


async def load_settings(store: Store, user_id: int) -> VacationSettings:
    found = dict(await store.get_metadata(user_id, 0, [SETTINGS]))
    raw = found.get(SETTINGS)
    if raw is None:
        return VacationSettings()
    try:  # an IMAP client may have written the entry (SETMETADATA): bad JSON means off
        doc = json.loads(raw)
    except ValueError:
        return VacationSettings()
    if not isinstance(doc, dict):
        return VacationSettings()
    return VacationSettings(bool(doc.get("isEnabled")), doc.get("fromDate"),
                            doc.get("toDate"), doc.get("subject"), doc.get("textBody"),
                            doc.get("htmlBody"))


async def save_settings(store: Store, user_id: int, settings: VacationSettings, *,
                        origin: object | None = None) -> None:
    value = json.dumps(settings.jmap()).encode()
    await store.set_metadata(user_id, 0, [(SETTINGS, value)],
                             max_entries=_METADATA_ENTRIES, origin=origin)


def should_reply(mail_from: str, fields: dict[str, str], own: Sequence[str]) -> bool:
    """RFC 3834's rules for a personal responder, on the envelope sender and the header."""
    if not mail_from:
        return False  # 3.1.2 / 3.3: never to the null reverse-path
    local = mail_from.split("@")[0].lower()
    if local in ("mailer-daemon", "postmaster", "listserv", "majordomo") or local.startswith(
            "owner-") or local.endswith(("-request", "-owner", "-bounces")):
        return False  # 2: not to a list or an automatic sender
    auto = fields.get("auto-submitted", "no").split(";")[0].strip().lower()
    if auto != "no":
        return False  # 2, 5: never answer automatic mail
    if any(name.startswith("list-") for name in fields):
        return False  # 2: mailing lists (RFC 2369, 2919)
    if fields.get("precedence", "").strip().lower() in ("bulk", "list", "junk"):
        return False
    # 3.1.1: only when one of the user's addresses is a visible recipient
    lists = [fields[n] for n in ("to", "cc", "resent-to", "resent-cc") if fields.get(n)]
    shown = {a.lower() for _n, a in getaddresses(lists)}
    return any(a.lower() in shown for a in own)


def reply_message(settings: VacationSettings, user_address: str, to: str,
                  fields: dict[str, str], now: datetime, hostname: str) -> bytes:
    """The auto-reply (RFC 3834 3.1.3-3.1.9): From the user, In-Reply-To and References,
    Auto-Submitted: auto-replied."""
    from email.message import EmailMessage
    from email.policy import SMTP
    from email.utils import make_msgid

    msg = EmailMessage(policy=SMTP.clone(cte_type="7bit"))
    msg["From"] = user_address
    msg["To"] = to
    original = fields.get("subject", "")
    msg["Subject"] = settings.subject or f"Auto: {original}".strip()
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=hostname)
    if "message-id" in fields:
        msg["In-Reply-To"] = fields["message-id"]
        msg["References"] = f"{fields.get('references', '')} {fields['message-id']}".strip()
    msg["Auto-Submitted"] = "auto-replied"
    text = settings.text_body or "I am away and will read your message later."
    msg.set_content(text, charset="utf-8")
    if settings.html_body:
        msg.add_alternative(settings.html_body, subtype="html", charset="utf-8")
    return msg.as_bytes()


class VacationReplies:
    """Answers local deliveries for users whose vacation response is on."""

    def __init__(self, store: Store, submitter: Submitter) -> None:
        self.store = store
        self.submitter = submitter

    async def after_delivery(self, user_ids: Sequence[int], mail_from: str,
                             rcpts_of: dict[int, list[str]], data: bytes,
                             now: datetime) -> None:
        """One reply per user whose response is active, each sender once per PERIOD."""
        for user_id in user_ids:
            try:
                await self._one(user_id, mail_from, rcpts_of.get(user_id, []), data, now)
            except Exception:  # an auto-reply must never disturb delivery
                log.exception("vacation reply for user %s failed", user_id)

    async def _one(self, user_id: int, mail_from: str, rcpts: list[str], data: bytes,
                   now: datetime) -> None:
        settings = await load_settings(self.store, user_id)
        if not settings.active(now):
            return
        user = await self.store.get_user_by_id(user_id)
        if user is None:
            return
        header = split_header(data)
        fields: dict[str, str] = {}
        for item in header.fields:
            if item.name:
                text = item.value.decode("utf-8", "replace")
                fields.setdefault(item.name.lower(), " ".join(text.split()))
        if not should_reply(mail_from, fields, [user.address, *rcpts]):
            return
        found = dict(await self.store.get_metadata(user_id, 0, [REPLIED]))
        try:
            replied: dict[str, str] = dict(json.loads(found.get(REPLIED) or b"{}"))
        except (ValueError, TypeError):
            replied = {}
        key = mail_from.lower()
        last = replied.get(key)
        if last is not None and now - datetime.fromisoformat(last) < PERIOD:
            return  # RFC 3834 4.1: not again to the same sender within the period
        reply = reply_message(settings, user.address, mail_from, fields, now,
                              self.submitter.hostname)
        # 3.3: the null reverse-path, so that nothing answers the answer
        await self.submitter.submit(user, "", [mail_from], reply, protocol="ESMTPA")
        replied[key] = now.isoformat()
        recent = sorted(replied.items(), key=lambda kv: kv[1])[-MAX_REMEMBERED:]
        await self.store.set_metadata(user_id, 0, [(REPLIED, json.dumps(dict(recent)).encode())],
                                      max_entries=_METADATA_ENTRIES)
