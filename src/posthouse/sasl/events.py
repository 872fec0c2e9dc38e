"""The two events every protocol core (SMTP, POP3, IMAP's connection) hands its session during a
SASL exchange. Both carry the client's text exactly as received: only the mechanism decodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class AuthStart:
    """AUTH / AUTHENTICATE: start ``mechanism`` (upper-cased) with the raw initial response
    (base64 text, ``=`` for an empty one, RFC 4954 4, RFC 5034 4, RFC 4959), or None."""

    mechanism: str
    initial: bytes | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class AuthResponse:
    """One client line answering a challenge, raw: base64 text, or ``*`` to cancel."""

    line: bytes = field(repr=False)


SaslEvent: TypeAlias = AuthStart | AuthResponse
