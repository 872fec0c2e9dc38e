"""What to say in MAIL and RCPT for one job, given what the next hop offers (pure).

Decided here, before anything is sent:
- SIZE (RFC 1870): a message larger than the announced maximum fails with 5.3.4.
- 8BITMIME (RFC 6152 3): declared 8-bit content to a hop without it fails with 5.6.3 (no
  conversion to 7 bit is attempted). Undeclared 8-bit content goes as it came.
- BINARYMIME (RFC 3030): sent with BDAT when offered together with CHUNKING, else 5.6.3.
- SMTPUTF8 (RFC 6531 3.4): needed when the sender, a recipient or the header section is
  non-ASCII after converting domains to A-labels; a hop without it fails just the recipients
  that need it, with 5.6.7 (all of them when the sender or header is the reason).
- DSN (RFC 3461): NOTIFY, ORCPT, RET and ENVID go on only when the hop offers DSN.
"""

from __future__ import annotations

from dataclasses import dataclass

from posthouse.delivery.headers import has_8bit
from posthouse.queue.content import ascii_address, header_needs_utf8
from posthouse.queue.jobs import Job, RecipientOutcome
from posthouse.smtp.grammar import Address, AddressError, parse_address
from posthouse.smtp.params import Orcpt
from posthouse.smtp.reply_reader import Capabilities
from posthouse.store.models import QueuedRecipient

RcptLine = tuple[QueuedRecipient, Address, tuple[str, ...], Orcpt | None]


@dataclass(frozen=True)
class Plan:
    """The parameters of one transaction and the recipients decided without sending."""

    sender: Address | None
    rcpts: list[RcptLine]
    refused: list[tuple[QueuedRecipient, RecipientOutcome]]
    size: int | None = None
    body: str | None = None
    smtputf8: bool = False
    ret: str | None = None
    envid: str | None = None
    bdat: bool = False
    dsn: bool = False


def _fail(status: str, text: str) -> RecipientOutcome:
    return RecipientOutcome.local(permanent=True, status=status, text=text)


def _address(text: str, utf8: bool) -> Address | None:
    """The address to send: as is with SMTPUTF8, else with A-label domain, else None."""
    if not utf8:
        converted = ascii_address(text)
        if converted is None:
            return None
        text = converted
    return parse_address(text)


def _body(job: Job, caps: Capabilities) -> tuple[str | None, bool, RecipientOutcome | None]:
    """(BODY= value, use BDAT, failure)."""
    declared = (job.message.envelope.body or "").upper()
    if declared == "BINARYMIME":
        if "BINARYMIME" in caps and "CHUNKING" in caps:
            return "BINARYMIME", True, None
        return None, False, _fail("5.6.3", "next hop does not accept binary MIME content")
    if "8BITMIME" in caps and (declared == "8BITMIME" or has_8bit(job.data)):
        return "8BITMIME", False, None
    if declared == "8BITMIME" and has_8bit(job.data):
        return None, False, _fail("5.6.3", "next hop does not accept 8-bit content")
    return None, False, None


def _message_failure(job: Job, caps: Capabilities) -> RecipientOutcome | None:
    if caps.size is not None and len(job.data) > caps.size:
        return _fail("5.3.4", f"message size {len(job.data)} exceeds the next hop's limit "
                              f"of {caps.size}")
    if "SMTPUTF8" not in caps and header_needs_utf8(job.data):
        return _fail("5.6.7", "the header is UTF-8 but the next hop does not offer SMTPUTF8")
    return None


def _orcpt(text: str | None) -> Orcpt | None:
    if not text:
        return None
    kind, sep, address = text.partition(";")
    return Orcpt(kind.strip(), address) if sep and kind.strip() and address else None


def plan_transaction(job: Job, caps: Capabilities) -> Plan:
    """Decide the transaction for ``job`` on a hop with capabilities ``caps``."""
    env = job.message.envelope
    utf8 = "SMTPUTF8" in caps
    body, bdat, failure = _body(job, caps)
    failure = failure or _message_failure(job, caps)
    sender: Address | None = None
    if failure is None and env.mail_from:
        try:
            sender = _address(env.mail_from, utf8)
        except AddressError:
            failure = _fail("5.1.7", f"bad sender address <{env.mail_from}>")
        if sender is None and failure is None:
            failure = _fail("5.6.7", "the sender address needs SMTPUTF8, not offered")
    if failure is not None:
        return Plan(None, [], [(r, failure) for r in job.recipients])
    dsn = "DSN" in caps
    rcpts: list[RcptLine] = []
    refused: list[tuple[QueuedRecipient, RecipientOutcome]] = []
    for rcpt in job.recipients:
        try:
            address = _address(rcpt.address, utf8)
        except AddressError:
            refused.append((rcpt, _fail("5.1.3", f"bad recipient address <{rcpt.address}>")))
            continue
        if address is None:
            refused.append((rcpt, _fail("5.6.7", "the address needs SMTPUTF8, not offered")))
            continue
        rcpts.append((rcpt, address, rcpt.notify if dsn else (),
                      _orcpt(rcpt.orcpt) if dsn else None))
    needs_utf8 = utf8 and (env.smtputf8 or not (sender is None or sender.is_ascii)
                           or any(not a.is_ascii for _, a, _, _ in rcpts)
                           or header_needs_utf8(job.data))
    return Plan(sender, rcpts, refused, size=len(job.data) if "SIZE" in caps else None,
                body=body, smtputf8=needs_utf8, ret=env.ret if dsn else None,
                envid=env.envid if dsn else None, bdat=bdat, dsn=dsn)
