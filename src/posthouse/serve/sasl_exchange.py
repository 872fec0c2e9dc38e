"""One SASL exchange on behalf of a protocol adapter: steps the mechanism, verifies the
credentials with the authenticator. The adapter only frames challenges and replies."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from posthouse import sasl
from posthouse.auth.authenticator import Authenticator, Principal

log = logging.getLogger("posthouse.auth")


class Outcome(enum.Enum):
    """How an exchange ended without a principal."""

    REJECTED = "rejected"  # wrong credentials (after the throttle delay)
    CANCELLED = "cancelled"  # the client sent "*"
    MALFORMED = "malformed"  # bad base64 or protocol


@dataclass(frozen=True, slots=True)
class Challenge:
    """Send this challenge (base64 text ready for the wire) and call ``step`` again."""

    encoded: bytes


class SaslExchange:
    """Drives one mechanism from start to a Principal, a Challenge or an Outcome."""

    def __init__(self, authenticator: Authenticator, *, remote_ip: str,
                 allowed: tuple[str, ...]) -> None:
        self._auth = authenticator
        self._ip = remote_ip
        self._allowed = allowed
        self._mech: sasl.Mechanism | None = None

    async def start(self, mechanism: str,
                    initial: bytes | None) -> Principal | Challenge | Outcome:
        """Begin with ``mechanism``; raises sasl.SaslError if unknown or not allowed."""
        self._mech = sasl.start(mechanism, allowed=self._allowed)
        return await self._advance(self._mech.step(initial))

    async def step(self, line: bytes) -> Principal | Challenge | Outcome:
        """Feed the client's next line (base64, or "*" to cancel)."""
        assert self._mech is not None
        return await self._advance(self._mech.step(line))

    async def _advance(self, result: object) -> Principal | Challenge | Outcome:
        if isinstance(result, sasl.Challenge):
            return Challenge(result.encoded())
        if isinstance(result, sasl.Credentials):
            principal = await self._auth.authenticate(
                result.authcid, result.password, remote_ip=self._ip)
            return principal if principal is not None else Outcome.REJECTED
        if isinstance(result, sasl.Failure):
            if result.reason is sasl.FailureReason.CANCELLED:
                return Outcome.CANCELLED
            if result.reason is sasl.FailureReason.AUTHZID_MISMATCH:
                return Outcome.REJECTED
            return Outcome.MALFORMED
        log.error("unexpected SASL step result %r", type(result).__name__)
        return Outcome.MALFORMED
