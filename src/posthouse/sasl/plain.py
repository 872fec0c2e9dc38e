"""PLAIN (RFC 4616): one message ``[authzid] NUL authcid NUL passwd``, all UTF-8."""

from __future__ import annotations

from posthouse.sasl.base import (
    Credentials,
    Failure,
    FailureReason,
    Step,
    SteppedMechanism,
    decode_utf8,
)


class PlainMechanism(SteppedMechanism):
    """Server side of PLAIN. Without an initial response it first sends an empty challenge."""

    name = "PLAIN"

    def _on_message(self, decoded: bytes, *, initial: bool) -> Step:
        return self._finish(parse_plain(decoded))


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
