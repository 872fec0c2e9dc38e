"""What ``Pop3Connection.next_event`` hands the IO adapter.

- ``Write``: bytes the core produced itself (replies it answers alone); write them out.
- Notices (``UserAccepted``, ``Utf8``): already answered by the core (the reply came
  as the preceding Write); they tell the adapter what happened.
- ``Closed`` (wire.events): the session is over; flush and close.
- Requests (``Pass``, ``Stls``, ``Retr``, ``Top``, ``Commit``, and the SASL events of every
  core, sasl.events ``AuthStart`` and ``AuthResponse``, raw): the adapter must answer each
  exactly once through a ``Pop3Connection`` method before asking for the next event.
- ``NEED_DATA``: feed more bytes with ``receive_data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from posthouse.sasl.events import AuthResponse, AuthStart


class Pop3Event:
    """Base of everything next_event returns except NEED_DATA."""

    __slots__ = ()


class Notice(Pop3Event):
    """Already answered; informational."""

    __slots__ = ()


class Pop3Request(Pop3Event):
    """Needs exactly one answer from the adapter (``Request`` adds the SASL events)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Write(Pop3Event):
    """Bytes to send to the client."""

    data: bytes


@dataclass(frozen=True, slots=True)
class UserAccepted(Notice):
    """USER accepted; PASS may follow."""

    name: str


@dataclass(frozen=True, slots=True)
class Utf8(Notice):
    """UTF8 mode is on (RFC 6856 2)."""


@dataclass(frozen=True, slots=True)
class Pass(Pop3Request):
    """Check these credentials: answer with ``login_succeeded`` or
    ``send(replies.invalid_credentials())``."""

    user: str
    password: str

    def __repr__(self) -> str:
        return f"Pass(user={self.user!r}, password=<hidden>)"


@dataclass(frozen=True, slots=True)
class Stls(Pop3Request):
    """Answer with ``start_tls()`` (then upgrade the stream) or ``send(err)`` with an Err
    from replies.py."""


@dataclass(frozen=True, slots=True)
class Retr(Pop3Request):
    """Read message ``uid`` and answer with ``send_message(data)`` or ``send(err)`` with an
    Err from replies.py."""

    number: int
    uid: int


@dataclass(frozen=True, slots=True)
class Top(Pop3Request):
    """As Retr; ``send_message`` sends only the header and the first ``lines`` body lines."""

    number: int
    uid: int
    lines: int


@dataclass(frozen=True, slots=True)
class Commit(Pop3Request):
    """QUIT in TRANSACTION (RFC 1939 6): remove ``deleted_uids`` (or, for accounts that keep
    POP3 mail, mark them seen), then answer ``send(replies.signed_off(n))`` or
    ``send(replies.update_failed())``.
    ``retrieved_uids`` lists the messages fully sent by RETR in this session."""

    deleted_uids: tuple[int, ...]
    retrieved_uids: tuple[int, ...]


# AuthStart (AUTH) and AuthResponse (each line after a "+" challenge) are answered with
# ``auth_challenge``, ``login_succeeded`` or ``send(err)`` with an Err from replies.py.
Request: TypeAlias = Pop3Request | AuthStart | AuthResponse
