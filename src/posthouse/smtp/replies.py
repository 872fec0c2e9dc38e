"""SMTP replies as values, and the table of standard replies as named constructors.

A reply is a three-digit code, an optional enhanced status code (RFC 3463, RFC 2034) and one or
more text lines. Whether the enhanced code is written out is decided when rendering: the server
core puts it in only after an EHLO while ENHANCEDSTATUSCODES is advertised (see connection.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import ParamSpec, cast

from posthouse.sasl import Challenge
from posthouse.wire import LocalProtocolError

# RFC 3463 section 2: class "." subject "." detail; class is 2, 4 or 5.
ENHANCED_RE = re.compile(r"[245]\.[0-9]{1,3}\.[0-9]{1,3}")

# RFC 5321 4.5.3.1.5: a reply line is at most 512 octets including the code and CRLF.
MAX_REPLY_LINE = 512

P = ParamSpec("P")


@dataclass(frozen=True)
class Reply:
    """One SMTP reply: ``code``, optional ``enhanced`` code like "2.1.5", and text line(s)."""

    code: int
    enhanced: str | None = None
    text: str | Sequence[str] = ""

    def __post_init__(self) -> None:
        if not 200 <= self.code <= 599:
            raise LocalProtocolError(f"reply code out of range: {self.code}")
        if not isinstance(self.text, str):
            lines = tuple(self.text)
            if not lines:
                raise LocalProtocolError("a reply needs at least one line")
            # One line is stored as a str, so equal replies compare equal however built.
            object.__setattr__(self, "text", lines[0] if len(lines) == 1 else lines)
        if self.enhanced is not None:
            if not ENHANCED_RE.fullmatch(self.enhanced):
                raise LocalProtocolError(f"bad enhanced status code: {self.enhanced!r}")
            # RFC 3463 section 2: the class digit matches the first digit of the reply code.
            if self.enhanced[0] != str(self.code)[0]:
                raise LocalProtocolError(f"enhanced code {self.enhanced} does not fit {self.code}")
        for line in self.lines:
            if "\r" in line or "\n" in line:
                raise LocalProtocolError("CR or LF inside reply text")

    @property
    def lines(self) -> tuple[str, ...]:
        """The text as a tuple of lines."""
        return (self.text,) if isinstance(self.text, str) else tuple(self.text)

    @property
    def is_success(self) -> bool:
        """2xx: the command was accepted."""
        return 200 <= self.code < 300

    @property
    def is_intermediate(self) -> bool:
        """3xx: the server waits for more (354 data, 334 SASL challenge)."""
        return 300 <= self.code < 400

    @property
    def is_transient(self) -> bool:
        """4xx: try again later."""
        return 400 <= self.code < 500

    @property
    def is_permanent(self) -> bool:
        """5xx: do not retry."""
        return self.code >= 500

    def render(self, *, enhanced: bool = True) -> bytes:
        """The wire form: "250-a\\r\\n250 b\\r\\n" (RFC 5321 4.2.1).

        ``enhanced`` says whether enhanced codes are in force; they are never written for 3xx
        replies, which RFC 3463 gives no class. Each form is built once per reply value.
        """
        return self._wire_enhanced if enhanced else self._wire_plain

    @cached_property
    def _wire_enhanced(self) -> bytes:
        return self._build(enhanced=True)

    @cached_property
    def _wire_plain(self) -> bytes:
        return self._build(enhanced=False)

    def _build(self, *, enhanced: bool) -> bytes:
        prefix = ""
        if enhanced and self.enhanced is not None and not self.is_intermediate:
            prefix = self.enhanced + " "
        lines = self.lines
        out = bytearray()
        for i, line in enumerate(lines):
            sep = " " if i == len(lines) - 1 else "-"
            raw = f"{self.code}{sep}{prefix}{line}\r\n".encode()
            if len(raw) > MAX_REPLY_LINE:
                raise LocalProtocolError(f"reply line longer than {MAX_REPLY_LINE} octets")
            out += raw
        return bytes(out)

    def __str__(self) -> str:
        head = f"{self.code} {self.enhanced} " if self.enhanced else f"{self.code} "
        return head + " / ".join(self.lines)


def _memo(make: Callable[P, Reply]) -> Callable[P, Reply]:
    """One shared Reply per argument list: replies are immutable, so a reply sent to every
    client is validated and rendered (see Reply.render) only once."""
    return cast(Callable[P, Reply], lru_cache(maxsize=32)(make))


# -- Connection -------------------------------------------------------------------------------

@_memo
def greeting(hostname: str, text: str = "ESMTP posthouse") -> Reply:
    """220 service ready (RFC 5321 4.3.1); greetings carry no enhanced code."""
    return Reply(220, None, f"{hostname} {text}")


@_memo
def helo_ok(hostname: str) -> Reply:
    """250 with our name: the reply to HELO (RFC 5321 4.1.1.1)."""
    return Reply(250, None, hostname)


@_memo
def closing(hostname: str) -> Reply:
    """221 reply to QUIT."""
    return Reply(221, "2.0.0", f"{hostname} closing connection")


@_memo
def shutting_down(hostname: str) -> Reply:
    """421: the server is going away (may be sent at any time, RFC 5321 3.8)."""
    return Reply(421, "4.3.2", f"{hostname} service shutting down, try again later")


@_memo
def timeout(hostname: str) -> Reply:
    """421 after an idle timeout (RFC 5321 4.5.3.2)."""
    return Reply(421, "4.4.2", f"{hostname} timeout, closing connection")


@_memo
def too_many_errors(hostname: str) -> Reply:
    """421 when a client keeps sending errors."""
    return Reply(421, "4.7.0", f"{hostname} too many errors, closing connection")


# -- Generic ----------------------------------------------------------------------------------

@_memo
def ok(text: str = "OK") -> Reply:
    """250 2.0.0."""
    return Reply(250, "2.0.0", text)


@_memo
def sender_ok() -> Reply:
    """250 2.1.0 to MAIL."""
    return Reply(250, "2.1.0", "Sender OK")


@_memo
def recipient_ok() -> Reply:
    """250 2.1.5 to RCPT."""
    return Reply(250, "2.1.5", "Recipient OK")


def message_accepted(queue_id: str = "") -> Reply:
    """250 2.0.0 once the message is stored."""
    return Reply(250, "2.0.0", f"OK queued as {queue_id}" if queue_id else "OK message accepted")


def chunk_received(size: int) -> Reply:
    """250 2.0.0 to a BDAT chunk that is not the last (RFC 3030 2)."""
    return Reply(250, "2.0.0", f"{size} octets received")


def help_text(lines: Sequence[str] = ("See RFC 5321",)) -> Reply:
    """214 help message."""
    return Reply(214, "2.0.0", tuple(lines))


@_memo
def cannot_verify() -> Reply:
    """252 to VRFY: we never confirm or deny users (no enumeration; RFC 5321 3.5.3)."""
    return Reply(252, "2.1.5", "Cannot VRFY user, but will accept message and attempt delivery")


@_memo
def start_mail_input() -> Reply:
    """354 to DATA."""
    return Reply(354, None, "End data with <CR><LF>.<CR><LF>")


# -- Command errors ---------------------------------------------------------------------------

@_memo
def syntax_error(text: str = "Syntax error") -> Reply:
    """500 5.5.2: the line could not be interpreted."""
    return Reply(500, "5.5.2", text)


@_memo
def line_too_long() -> Reply:
    """500 5.5.2 for an overlong command line (RFC 5321 4.5.3.1.10)."""
    return Reply(500, "5.5.2", "Line too long")


@_memo
def unknown_command() -> Reply:
    """500 5.5.1 for a verb we do not know."""
    return Reply(500, "5.5.1", "Command unrecognized")


@_memo
def param_syntax(text: str = "Syntax error in parameters or arguments") -> Reply:
    """501 5.5.4: invalid arguments."""
    return Reply(501, "5.5.4", text)


@_memo
def not_implemented(text: str = "Command not implemented") -> Reply:
    """502 5.5.1: a known command that is not enabled."""
    return Reply(502, "5.5.1", text)


@_memo
def bad_sequence(text: str = "Bad sequence of commands") -> Reply:
    """503 5.5.1."""
    return Reply(503, "5.5.1", text)


@_memo
def param_unknown(text: str = "Parameter not recognized or not implemented") -> Reply:
    """555 5.5.4 for MAIL/RCPT parameters (RFC 5321 4.1.1.11)."""
    return Reply(555, "5.5.4", text)


# -- Addresses and transactions ---------------------------------------------------------------

@_memo
def bad_sender_syntax(text: str = "Bad sender address syntax") -> Reply:
    """501 5.1.7 (RFC 3463: bad sender's mailbox address syntax)."""
    return Reply(501, "5.1.7", text)


@_memo
def bad_recipient_syntax(text: str = "Bad recipient address syntax") -> Reply:
    """501 5.1.3 (RFC 3463: bad destination mailbox address syntax)."""
    return Reply(501, "5.1.3", text)


@_memo
def utf8_not_permitted() -> Reply:
    """553 5.6.7: a non-ASCII address without SMTPUTF8 (RFC 6531 3.5)."""
    return Reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8")


def sender_not_owned(sender: str, user: str) -> Reply:
    """553 5.7.1: an authenticated user may send only as an address of their own (RFC 6409
    6.1; RFC 3463 5.7.1: delivery not authorized)."""
    return Reply(553, "5.7.1", f"Sender address <{sender}> not owned by {user}")


@_memo
def no_such_user() -> Reply:
    """550 5.1.1."""
    return Reply(550, "5.1.1", "No such user here")


@_memo
def relay_denied() -> Reply:
    """554 5.7.1: we are not a relay for that destination."""
    return Reply(554, "5.7.1", "Relay access denied")


@_memo
def too_many_recipients() -> Reply:
    """452 4.5.3 (RFC 5321 4.5.3.1.10: the client retries the rest later)."""
    return Reply(452, "4.5.3", "Too many recipients")


@_memo
def no_valid_recipients() -> Reply:
    """554 5.5.1 to DATA/BDAT when every RCPT was refused (RFC 5321 3.3, RFC 2920 3.1)."""
    return Reply(554, "5.5.1", "No valid recipients")


@_memo
def message_too_big() -> Reply:
    """552 5.3.4 (RFC 1870, RFC 3463: message too big for system)."""
    return Reply(552, "5.3.4", "Message size exceeds fixed maximum message size")


@_memo
def bare_newline() -> Reply:
    """550 5.6.0: the message had a bare CR or LF (SMTP smuggling defence).

    RFC 5321 2.3.8 forbids bare CR and LF; there is no registered enhanced code for it, so we
    use the generic media error X.6.0 (5.6.11 is an Exchange-only code, not in the IANA
    registry) and 550, a permanent refusal that RFC 5321 4.3.2 lists for DATA.
    """
    return Reply(550, "5.6.0", "Message contains bare CR or LF characters")


@_memo
def temporary_failure(text: str = "Temporary failure, try again later") -> Reply:
    """451 4.3.0: local error in processing."""
    return Reply(451, "4.3.0", text)


@_memo
def local_error() -> Reply:
    """451 4.3.0: the store failed while taking the message (RFC 5321 4.2.3)."""
    return temporary_failure("Local error in processing, try again later")


def dmarc_rejected(domain: str) -> Reply:
    """550 5.7.1: the author domain's DMARC policy says reject (RFC 7489 10.3, RFC 7372 3.3
    "5.7.1" for a delivery not authorized)."""
    return Reply(550, "5.7.1", f"Rejected by the DMARC policy of {domain}")


# -- Anti-abuse (port 25 filters, rate limits) -----------------------------------------------

def early_talker() -> Reply:
    """554 5.5.0: the client spoke before the greeting (RFC 5321 4.3.1: it must wait)."""
    return Reply(554, "5.5.0", "Protocol error: you spoke before the greeting")


def blocklisted(what: str, zone: str) -> Reply:
    """554 5.7.1: a DNS blocklist lists ``what`` (RFC 5782; as Postfix answers RBL hits)."""
    return Reply(554, "5.7.1", f"Service unavailable; {what} listed by {zone}")


def rate_limited(seconds: int) -> Reply:
    """451 4.7.1 to MAIL: too many messages from this client, sender or user for now."""
    return Reply(451, "4.7.1", f"Too many messages, try again in {seconds} seconds")


def too_many_recipients_for_now(seconds: int) -> Reply:
    """452 4.5.3 to RCPT: too many recipients in this window (RFC 3463 4.5.3, RFC 5321
    4.5.3.1.10: the client sends the rest later)."""
    return Reply(452, "4.5.3", f"Too many recipients, try again in {seconds} seconds")


def greylisted(seconds: int) -> Reply:
    """451 4.7.1 to RCPT: greylisted, retry later (RFC 6647 2.1)."""
    return Reply(451, "4.7.1", f"Greylisted, please try again in {seconds} seconds")


def spam_rejected(text: str = "") -> Reply:
    """550 5.7.1 at the end of DATA: the content filter refuses the message."""
    return Reply(550, "5.7.1", _printable(text) or "Message rejected as spam")


def spam_deferred(text: str = "") -> Reply:
    """451 4.7.1 at the end of DATA: the content filter asks for a later retry."""
    return Reply(451, "4.7.1", _printable(text) or "Message deferred, try again later")


def _printable(text: str) -> str:
    """Filter text fit for one reply line: printable ASCII, at most 400 characters."""
    return "".join(ch for ch in text if " " <= ch <= "~")[:400]


@_memo
def storage_full() -> Reply:
    """452 4.3.1: insufficient system storage (RFC 3463 X.3.1; RFC 5321 4.3.2 lists 452 for
    MAIL, RCPT and the end of DATA): the disk is full or below the low-space threshold."""
    return Reply(452, "4.3.1", "Insufficient system storage")


@_memo
def mailbox_full() -> Reply:
    """552 5.2.2: the recipient's mailbox is over quota."""
    return Reply(552, "5.2.2", "Mailbox full")


@_memo
def mailbox_full_temporary() -> Reply:
    """452 4.2.2 at RCPT time: the recipient's mailbox is at its quota for now (RFC 3463)."""
    return Reply(452, "4.2.2", "Mailbox full, try again later")


# -- STARTTLS (RFC 3207) and AUTH (RFC 4954) --------------------------------------------------

@_memo
def ready_to_start_tls() -> Reply:
    """220 2.0.0 to STARTTLS; the adapter then calls ``start_tls()``."""
    return Reply(220, "2.0.0", "Ready to start TLS")


@_memo
def tls_not_available() -> Reply:
    """454 4.7.0 (RFC 3207 4)."""
    return Reply(454, "4.7.0", "TLS not available due to temporary reason")


@_memo
def encryption_required() -> Reply:
    """530 5.7.0 (RFC 3207 4)."""
    return Reply(530, "5.7.0", "Must issue a STARTTLS command first")


def auth_challenge(challenge: Challenge) -> Reply:
    """334 with the challenge's base64 text (RFC 4954 4); "334 " for an empty one."""
    return Reply(334, None, challenge.encoded().decode("ascii"))


@_memo
def auth_succeeded() -> Reply:
    """235 2.7.0."""
    return Reply(235, "2.7.0", "Authentication successful")


@_memo
def auth_failed() -> Reply:
    """535 5.7.8 (RFC 4954 6)."""
    return Reply(535, "5.7.8", "Authentication credentials invalid")


@_memo
def auth_temporary_failure() -> Reply:
    """454 4.7.0 (RFC 4954 6)."""
    return Reply(454, "4.7.0", "Temporary authentication failure")


@_memo
def auth_cancelled() -> Reply:
    """501 5.7.0: the client sent "*" (RFC 4954 4)."""
    return Reply(501, "5.7.0", "Authentication cancelled")


@_memo
def auth_bad_base64() -> Reply:
    """501 5.5.2: a response that is not base64 (RFC 4954 4)."""
    return Reply(501, "5.5.2", "Cannot decode base64 response")


@_memo
def auth_malformed() -> Reply:
    """501 5.5.2: a response the mechanism cannot read (bad base64 has its own reply)."""
    return Reply(501, "5.5.2", "Malformed authentication response")


@_memo
def auth_unknown_mechanism() -> Reply:
    """504 5.5.4 (RFC 4954 4)."""
    return Reply(504, "5.5.4", "Unrecognized authentication type")


@_memo
def auth_required() -> Reply:
    """530 5.7.0 (RFC 4954 6)."""
    return Reply(530, "5.7.0", "Authentication required")
