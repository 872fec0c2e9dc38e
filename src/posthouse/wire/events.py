"""The two events every sans-IO connection core shares (SMTP, POP3, IMAP).

``NEED_DATA``: the core has nothing to say until more bytes are fed (h11's NEED_DATA).
``Closed``: the conversation is over; the adapter flushes what it wrote and closes. A core
returns it again on every later ``next_event`` call.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NeedData:
    """More bytes are needed before the next event."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()


@dataclass(frozen=True, slots=True)
class Closed:
    """The session is over: flush, then close the connection. Needs no reply."""
