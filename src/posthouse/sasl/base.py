"""The values every SASL step machine speaks: step results, failure reasons, errors.

A mechanism is driven by its protocol adapter one client message at a time. The first call
carries the initial response (``None`` if the client sent none); each later call carries one
client line exactly as received (base64, ``*`` to cancel). The machine answers with one of the
step results below; the adapter renders a ``Challenge`` in its own syntax ("334 ..." for SMTP,
"+ ..." for IMAP and POP3) and maps a ``Failure`` to its own error reply.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass
from typing import Protocol

from posthouse.wire import LocalProtocolError

# The longest client line (base64 text) a machine accepts. RFC 4616 asks for at least 255
# octets per PLAIN field; 8 KiB of base64 leaves ample room for every supported mechanism.
MAX_RESPONSE_OCTETS = 8192
# The detail of the MALFORMED failure for a line that is not base64: protocols answer it with
# their own "cannot decode" reply (see ``Failure.bad_base64``).
BAD_BASE64 = "invalid base64"


class SaslError(Exception):
    """Base class of the errors ``start`` raises."""


class UnknownMechanism(SaslError):
    """The client named a mechanism we do not implement (SMTP 504 5.5.4, IMAP NO)."""


class MechanismNotAllowed(SaslError):
    """The mechanism exists but is not offered on this channel (e.g. PLAIN before TLS)."""


class FailureReason(enum.Enum):
    """Why an exchange ended without credentials; adapters pick their reply from this."""

    CANCELLED = "cancelled"  # the client sent "*" (RFC 4954 4, RFC 9051 6.2.2, RFC 5034 4)
    MALFORMED = "malformed"  # bad base64 or a message that breaks the mechanism's grammar
    TOO_LONG = "too-long"  # a client line over MAX_RESPONSE_OCTETS
    AUTHZID_MISMATCH = "authzid-mismatch"  # asked to act as another user (not supported)
    UNSUPPORTED = "unsupported"  # a feature we do not offer (e.g. SCRAM channel binding)
    INVALID_PROOF = "invalid-proof"  # SCRAM: the client proof did not verify


@dataclass(frozen=True, slots=True)
class Challenge:
    """Send ``data`` to the client and wait for its next line."""

    data: bytes

    def encoded(self) -> bytes:
        """The base64 text for the wire (empty data gives an empty string)."""
        return base64.b64encode(self.data)


@dataclass(frozen=True, slots=True)
class Credentials:
    """The client's claimed identity and password; auth/ decides whether they are right."""

    authcid: str
    password: str
    authzid: str | None = None

    def __repr__(self) -> str:  # never let a password reach a log line
        return f"Credentials(authcid={self.authcid!r}, password=<hidden>, authzid={self.authzid!r})"


@dataclass(frozen=True, slots=True)
class Failure:
    """The exchange is over without credentials."""

    reason: FailureReason
    detail: str = ""

    @property
    def bad_base64(self) -> bool:
        """Whether the client line could not be decoded (a MALFORMED failure of its own)."""
        return self.reason is FailureReason.MALFORMED and self.detail == BAD_BASE64


@dataclass(frozen=True, slots=True)
class NeedSecrets:
    """SCRAM only: look up the user's stored SCRAM secrets and call ``provide_secrets``."""

    authcid: str
    authzid: str | None = None


@dataclass(frozen=True, slots=True)
class Verified:
    """SCRAM only: the mechanism itself proved the client knows the password."""

    authcid: str
    authzid: str | None = None


Step = Challenge | Credentials | Failure | NeedSecrets | Verified


class Mechanism(Protocol):
    """A server-side SASL exchange; one instance per AUTH/AUTHENTICATE command."""

    name: str

    @property
    def done(self) -> bool:
        """Whether a terminal result (Credentials, Failure, Verified) was returned."""

    def step(self, data: bytes | None) -> Step:
        """Feed the next client message (see the module docstring)."""


class SteppedMechanism:
    """Bookkeeping PLAIN and LOGIN share: one initial response (or ``first_challenge`` when
    there is none), base64 decoding and cancellation, no step after the end."""

    name = ""
    first_challenge = b""

    def __init__(self) -> None:
        self._calls = 0
        self._done = False

    @property
    def done(self) -> bool:
        """Whether the exchange has ended."""
        return self._done

    def step(self, data: bytes | None) -> Step:
        """Feed the initial response (or None), then each client line."""
        if self._done:
            raise LocalProtocolError(f"{self.name} exchange already finished")
        initial = self._calls == 0
        self._calls += 1
        if data is None:
            if initial:
                return Challenge(self.first_challenge)
            raise LocalProtocolError("only the initial response may be absent")
        decoded = decode_response(data, initial=initial)
        if isinstance(decoded, Failure):
            return self._finish(decoded)
        return self._on_message(decoded, initial=initial)

    def _on_message(self, decoded: bytes, *, initial: bool) -> Step:
        """A decoded client message; the mechanism's own logic."""
        raise NotImplementedError

    def _finish(self, result: Credentials | Failure) -> Step:
        self._done = True
        return result


def decode_response(data: bytes, *, initial: bool) -> bytes | Failure:
    """Decode one client line: cancellation, "=" (empty initial response), strict base64.

    RFC 4954 4 and RFC 5034 4 use "=" for an empty initial response; on a continuation line an
    empty line means empty data. Surrounding blanks are tolerated.
    """
    data = data.strip(b" \t")
    if len(data) > MAX_RESPONSE_OCTETS:
        return Failure(FailureReason.TOO_LONG, "response too long")
    if data == b"*":
        return Failure(FailureReason.CANCELLED, "authentication cancelled")
    if initial and data == b"=":
        return b""
    if len(data) % 4:
        return Failure(FailureReason.MALFORMED, BAD_BASE64)
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        return Failure(FailureReason.MALFORMED, BAD_BASE64)


def decode_utf8(raw: bytes) -> str | None:
    """Strict UTF-8 decoding; None on invalid input."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
