"""The events the server core hands to its IO adapter: one per client command.

Every event needs exactly one reply through ``SmtpServerConnection.send`` before the next
event can be taken. ``Rejected`` carries the reply the core chose itself. ``next_event`` also
returns the two events every core shares (wire.events): ``NEED_DATA`` and ``Closed``, which
need no reply, and the SASL events of every core (sasl.events): ``AuthStart`` for AUTH and
``AuthResponse`` for each line after a 334, both raw (answered 334, 235 or an error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from posthouse.smtp.grammar import Address
from posthouse.smtp.params import MailParams, RcptParams
from posthouse.smtp.replies import Reply


class SmtpEvent:
    """Base class of the SMTP command events (``next_event`` also returns wire.events'
    ``NEED_DATA`` and ``Closed``, and sasl.events' ``AuthStart`` and ``AuthResponse``)."""

    __slots__ = ()


@dataclass(frozen=True)
class Helo(SmtpEvent):
    """HELO (``extended`` False) or EHLO; reply with ``SmtpServerConnection.ehlo_reply()``."""

    name: str
    extended: bool


@dataclass(frozen=True)
class StartTLS(SmtpEvent):
    """STARTTLS (RFC 3207): reply 220, then call ``start_tls()`` before the handshake."""


@dataclass(frozen=True)
class MailFrom(SmtpEvent):
    """MAIL FROM; ``address`` None is the null reverse-path "<>"."""

    address: Address | None
    params: MailParams


@dataclass(frozen=True)
class RcptTo(SmtpEvent):
    """RCPT TO."""

    address: Address
    params: RcptParams


@dataclass(frozen=True)
class DataStart(SmtpEvent):
    """DATA: reply 354 to receive the content, or a 4xx/5xx to refuse it."""


@dataclass(frozen=True)
class BdatChunk(SmtpEvent):
    """A BDAT chunk that is not the LAST one, already read; reply 250 to keep going."""

    size: int


@dataclass(frozen=True)
class MessageComplete(SmtpEvent):
    """The whole message (dot-unstuffed for DATA; the joined chunks for BDAT)."""

    data: bytes = field(repr=False)
    via: Literal["DATA", "BDAT"]


@dataclass(frozen=True)
class Rset(SmtpEvent):
    """RSET."""


@dataclass(frozen=True)
class Noop(SmtpEvent):
    """NOOP (its optional argument is ignored)."""


@dataclass(frozen=True)
class Quit(SmtpEvent):
    """QUIT: after the reply the connection is closed."""


@dataclass(frozen=True)
class Vrfy(SmtpEvent):
    """VRFY; answer 252 2.1.5 (``replies.cannot_verify()``) so users cannot be enumerated."""

    argument: str


@dataclass(frozen=True)
class Expn(SmtpEvent):
    """EXPN."""

    argument: str


@dataclass(frozen=True)
class Help(SmtpEvent):
    """HELP with an optional topic."""

    topic: str | None


@dataclass(frozen=True)
class Rejected(SmtpEvent):
    """The core refused the input itself; send ``reply`` (or another reply of your choice)."""

    reply: Reply

