"""What the IMAP connection core (connection.py) hands the session: one event at a time.

``RawCommand`` (a whole command with its literals), ``NeedLiteral`` (a literal was announced:
accept or reject it), ``BadInput`` (answer with its tagged response), ``IdleDone`` and
``AuthResponse`` (the one-shot modes; the SASL line event every core shares, from
sasl.events, raw), or ``NEED_DATA`` (feed more bytes; from wire.events).
"""

from __future__ import annotations

from dataclasses import dataclass

from posthouse.imap.responses import Code, Status, Tagged
from posthouse.sasl.events import AuthResponse
from posthouse.wire.events import NeedData


@dataclass(frozen=True, slots=True)
class LiteralArg:
    """The octets of one literal of a command, in place among the text segments."""

    data: bytes
    binary: bool = False  # sent as literal8 ``~{n}``


Segment = bytes | LiteralArg


@dataclass(frozen=True, slots=True)
class RawCommand:
    """A complete command: its tag, upper-cased first word and its arguments.

    ``args`` alternates text and literals and always starts and ends with text:
    ``a LOGIN {3}\\r\\nbob x`` gives ``(b" ", LiteralArg(b"bob"), b" x")``.
    """

    tag: str
    name: str
    args: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class NeedLiteral:
    """A literal was announced; call ``accept_literal()`` or ``reject_literal()``."""

    tag: str
    size: int
    nonsync: bool
    binary: bool
    name: str = ""  # the command word ("APPEND", "UID" ...), for per-command limits


@dataclass(frozen=True, slots=True)
class BadInput:
    """Input the core could not turn into a command; answer it with ``response()``."""

    tag: str
    status: Status
    text: str
    code: Code | None = None

    def response(self) -> Tagged:
        """The tagged response (tag ``*`` gives ``* BAD ...``)."""
        return Tagged(self.tag, self.status, self.text, self.code)


@dataclass(frozen=True, slots=True)
class IdleDone:
    """The line that ended IDLE: ``ok`` is False unless it was ``DONE`` (RFC 2177)."""

    ok: bool


ImapEvent = RawCommand | NeedLiteral | BadInput | IdleDone | AuthResponse | NeedData
