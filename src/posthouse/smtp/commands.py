"""The events the server core hands to its IO adapter: one per client command.

Every event except ``Closed`` needs exactly one reply through ``ServerConnection.send`` before
the next event can be taken. ``Rejected`` carries the reply the core chose itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from posthouse.smtp.grammar import Address
from posthouse.smtp.params import MailParams, RcptParams
from posthouse.smtp.replies import Reply


class Event:
    """Base class of everything ``next_event`` returns except ``NeedData``."""

    __slots__ = ()


@dataclass(frozen=True)
class NeedData:
    """More bytes are needed before the next event (the h11 NEED_DATA)."""


NEED_DATA = NeedData()


@dataclass(frozen=True)
class Helo(Event):
    """HELO (``extended`` False) or EHLO; reply with ``ServerConnection.ehlo_reply()``."""

    name: str
    extended: bool


@dataclass(frozen=True)
class StartTLS(Event):
    """STARTTLS (RFC 3207): reply 220, then call ``start_tls()`` before the handshake."""


@dataclass(frozen=True)
class AuthStart(Event):
    """AUTH (RFC 4954): ``initial_response`` is decoded base64 (b"" for "="), or None."""

    mechanism: str
    initial_response: bytes | None


@dataclass(frozen=True)
class AuthResponse(Event):
    """One decoded client response line to a 334 challenge."""

    data: bytes = field(repr=False)


@dataclass(frozen=True)
class MailFrom(Event):
    """MAIL FROM; ``address`` None is the null reverse-path "<>"."""

    address: Address | None
    params: MailParams


@dataclass(frozen=True)
class RcptTo(Event):
    """RCPT TO."""

    address: Address
    params: RcptParams


@dataclass(frozen=True)
class DataStart(Event):
    """DATA: reply 354 to receive the content, or a 4xx/5xx to refuse it."""


@dataclass(frozen=True)
class BdatChunk(Event):
    """A BDAT chunk that is not the LAST one, already read; reply 250 to keep going."""

    size: int


@dataclass(frozen=True)
class MessageComplete(Event):
    """The whole message (dot-unstuffed for DATA; the joined chunks for BDAT)."""

    data: bytes = field(repr=False)
    via: Literal["DATA", "BDAT"]


@dataclass(frozen=True)
class Rset(Event):
    """RSET."""


@dataclass(frozen=True)
class Noop(Event):
    """NOOP (its optional argument is ignored)."""


@dataclass(frozen=True)
class Quit(Event):
    """QUIT: after the reply the connection is closed."""


@dataclass(frozen=True)
class Vrfy(Event):
    """VRFY; answer 252 2.1.5 (``replies.cannot_verify()``) so users cannot be enumerated."""

    argument: str


@dataclass(frozen=True)
class Expn(Event):
    """EXPN."""

    argument: str


@dataclass(frozen=True)
class Help(Event):
    """HELP with an optional topic."""

    topic: str | None


@dataclass(frozen=True)
class Rejected(Event):
    """The core refused the input itself; send ``reply`` (or another reply of your choice)."""

    reply: Reply


@dataclass(frozen=True)
class Closed(Event):
    """The session is over: the client closed, or QUIT / a 421 was answered. Needs no reply."""
