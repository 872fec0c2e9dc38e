"""One SASL exchange on behalf of a protocol session (SMTP, POP3, IMAP AUTHENTICATE).

The session hands over the client's lines exactly as received (base64, ``=`` for an empty
initial response, ``*`` to cancel); only the mechanism decodes them. The exchange steps the
mechanism and settles what it produces with the authenticator: ``Credentials`` (PLAIN, LOGIN)
are verified; SCRAM's ``NeedSecrets`` is answered with the user's stored secrets, its
``Verified`` becomes a principal and an invalid proof counts as a failed login, all under the
authenticator's throttle. The session only frames challenges and maps a ``SaslOutcome`` to its
protocol's reply. A password the hash queue has no room for ends the exchange UNAVAILABLE:
SMTP 454 4.7.0 (RFC 4954 6), IMAP NO [UNAVAILABLE] (RFC 5530 3), POP3 -ERR [SYS/TEMP]
(RFC 3206 4).
"""

from __future__ import annotations

import enum

from posthouse import sasl
from posthouse.auth.authenticator import Authenticator, Principal
from posthouse.auth.scheduler import HashBusy


class SaslOutcome(enum.Enum):
    """How an exchange ended without a principal."""

    REJECTED = "rejected"  # wrong credentials or proof, or another identity (after any delay)
    CANCELLED = "cancelled"  # the client sent "*" (RFC 4954 4, RFC 5034 4, RFC 9051 6.2.2)
    BAD_BASE64 = "bad-base64"  # a client line that is not base64
    MALFORMED = "malformed"  # a message the mechanism cannot read, too long, or unsupported
    UNAVAILABLE = "unavailable"  # too many logins waiting for a password hash: try later


ExchangeResult = Principal | sasl.Challenge | SaslOutcome

_OUTCOMES = {
    sasl.FailureReason.CANCELLED: SaslOutcome.CANCELLED,
    sasl.FailureReason.AUTHZID_MISMATCH: SaslOutcome.REJECTED,
    sasl.FailureReason.INVALID_PROOF: SaslOutcome.REJECTED,
}


class SaslExchange:
    """Drives one mechanism from ``start`` to a Principal or a SaslOutcome; each
    ``sasl.Challenge`` on the way is sent by the session, which then calls ``step``."""

    def __init__(self, authenticator: Authenticator, *, remote_ip: str,
                 allowed: tuple[str, ...]) -> None:
        self._auth = authenticator
        self._ip = remote_ip
        self._allowed = allowed
        self._mech: sasl.Mechanism | None = None
        self._authcid = ""  # the user the client named, once it did
        self.failure: sasl.Failure | None = None  # the mechanism's, when it ended one

    @property
    def authcid(self) -> str:
        """The user name the client gave ("" until it gave one), for log lines."""
        return self._authcid

    async def start(self, mechanism: str, initial: bytes | None) -> ExchangeResult:
        """Begin with ``mechanism`` and the raw initial response (None if the client sent
        none); raises sasl.SaslError if the mechanism is unknown or not allowed."""
        self._mech = sasl.start(mechanism, allowed=self._allowed)
        return await self._advance(self._mech.step(initial))

    async def step(self, line: bytes) -> ExchangeResult:
        """Feed the client's next line, raw."""
        assert self._mech is not None
        return await self._advance(self._mech.step(line))

    async def _advance(self, result: sasl.Step) -> ExchangeResult:
        if isinstance(result, sasl.NeedSecrets):
            assert isinstance(self._mech, sasl.ScramSha256)
            self._authcid = result.authcid
            found = await self._auth.scram_secrets(result.authcid, remote_ip=self._ip)
            return self._mech.provide_secrets(found)
        if isinstance(result, sasl.Challenge):
            return result
        if isinstance(result, sasl.Credentials):
            self._authcid = result.authcid
            try:
                principal = await self._auth.authenticate(
                    result.authcid, result.password, remote_ip=self._ip)
            except HashBusy:
                return SaslOutcome.UNAVAILABLE
            return principal if principal is not None else SaslOutcome.REJECTED
        if isinstance(result, sasl.Verified):
            principal = await self._auth.scram_verified(result.authcid, remote_ip=self._ip)
            return principal if principal is not None else SaslOutcome.REJECTED
        self.failure = result
        if result.reason is sasl.FailureReason.INVALID_PROOF:
            await self._auth.scram_failed(self._authcid, remote_ip=self._ip)
        if result.bad_base64:
            return SaslOutcome.BAD_BASE64
        return _OUTCOMES.get(result.reason, SaslOutcome.MALFORMED)

