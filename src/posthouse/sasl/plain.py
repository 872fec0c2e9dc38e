"""PLAIN (RFC 4616): one message ``[authzid] NUL authcid NUL passwd``, all UTF-8."""

from __future__ import annotations

from posthouse.sasl.base import (
    Challenge,
    Credentials,
    Failure,
    FailureReason,
    Step,
    decode_response,
    decode_utf8,
)
from posthouse.wire import LocalProtocolError


class Plain:
    """Server side of PLAIN. Without an initial response it first sends an empty challenge."""

    name = "PLAIN"

    def __init__(self) -> None:
        self._calls = 0
        self._done = False

    @property
    def done(self) -> bool:
        """Whether the exchange has ended."""
        return self._done

    def step(self, data: bytes | None) -> Step:
        """Feed the initial response (or None), then the client's line."""
        if self._done:
            raise LocalProtocolError("PLAIN exchange already finished")
        initial = self._calls == 0
        self._calls += 1
        if data is None:
            if initial:
                return Challenge(b"")
            raise LocalProtocolError("only the initial response may be absent")
        self._done = True
        decoded = decode_response(data, initial=initial)
        if isinstance(decoded, Failure):
            return decoded
        return parse_plain(decoded)


def parse_plain(message: bytes) -> Credentials | Failure:
    """Split and check a decoded PLAIN message (RFC 4616 2)."""
    parts = message.split(b"\x00")
    if len(parts) != 3:
        return Failure(FailureReason.MALFORMED, "PLAIN message needs exactly two NULs")
    fields = [decode_utf8(part) for part in parts]
    authzid, authcid, password = fields
    if authzid is None or authcid is None or password is None:
        return Failure(FailureReason.MALFORMED, "PLAIN fields must be UTF-8")
    if not authcid or not password:
        return Failure(FailureReason.MALFORMED, "empty user name or password")
    # Addresses compare case-insensitively; acting as someone else is not supported.
    if authzid and authzid.lower() != authcid.lower():
        return Failure(FailureReason.AUTHZID_MISMATCH, "authorization identity not permitted")
    return Credentials(authcid=authcid, password=password, authzid=authzid or None)
