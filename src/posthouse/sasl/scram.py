"""SCRAM-SHA-256 (RFC 5802, RFC 7677), without channel binding (no -PLUS variant).

SCRAM never shows the server the password, so it cannot be checked against the argon2 hash:
the store must keep, per user, the secrets derived when the password is set (``ScramSecrets``,
serialised in the RFC 5803 style ``SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>``).
The exchange is::

    step(client-first)  -> NeedSecrets(authcid)       adapter looks the user up
    provide_secrets(s)  -> Challenge(server-first)    s is None for an unknown user
    step(client-final)  -> Challenge(server-final) | Failure(INVALID_PROOF)
    step(empty line)    -> Verified(authcid)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import stringprep
import unicodedata
from dataclasses import dataclass

from posthouse.sasl.base import (
    Challenge,
    Failure,
    FailureReason,
    NeedSecrets,
    Step,
    Verified,
    decode_response,
    decode_utf8,
)
from posthouse.sasl.scram_grammar import ClientFirst, parse_client_final, parse_client_first
from posthouse.wire import LocalProtocolError

DEFAULT_ITERATIONS = 4096  # the minimum RFC 7677 4 allows; clients on phones pay it too
_PREFIX = "SCRAM-SHA-256"
# Salts for unknown users are derived from this per-process key, so the same unknown name gets
# the same salt on every attempt and cannot be told apart from a real user by its salt.
_FAKE_SALT_KEY = secrets.token_bytes(32)


@dataclass(frozen=True, slots=True)
class ScramSecrets:
    """What the store keeps per user for SCRAM-SHA-256 (RFC 5802 3)."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    def to_string(self) -> str:
        """The RFC 5803 style text form."""
        b64 = base64.b64encode
        return (
            f"{_PREFIX}${self.iterations}:{b64(self.salt).decode()}"
            f"${b64(self.stored_key).decode()}:{b64(self.server_key).decode()}"
        )

    @classmethod
    def parse(cls, text: str) -> ScramSecrets:
        """Read ``to_string`` output (ValueError if malformed)."""
        try:
            prefix, params, keys = text.split("$")
            iterations, salt = params.split(":")
            stored, server = keys.split(":")
            result = cls(
                salt=base64.b64decode(salt, validate=True),
                iterations=int(iterations),
                stored_key=base64.b64decode(stored, validate=True),
                server_key=base64.b64decode(server, validate=True),
            )
        except (ValueError, binascii.Error) as exc:
            raise ValueError("malformed SCRAM secrets") from exc
        if prefix != _PREFIX or result.iterations < 1 or len(result.stored_key) != 32:
            raise ValueError("malformed SCRAM secrets")
        return result


def saslprep(text: str) -> str:
    """RFC 4013 SASLprep (mapping, NFKC, prohibited output); bidi rules are not checked."""
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch
        for ch in text
        if not stringprep.in_table_b1(ch)
    )
    normal = unicodedata.normalize("NFKC", mapped)
    prohibited = (
        stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3,
        stringprep.in_table_c4, stringprep.in_table_c5, stringprep.in_table_c6,
        stringprep.in_table_c7, stringprep.in_table_c8, stringprep.in_table_c9,
        stringprep.in_table_a1,
    )
    if any(test(ch) for ch in normal for test in prohibited):
        raise ValueError("password contains characters SASLprep prohibits")
    return normal


def derive_secrets(
    password: str, *, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS
) -> ScramSecrets:
    """Compute the stored SCRAM secrets for a password (when it is set)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode(), salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    return ScramSecrets(
        salt=salt,
        iterations=iterations,
        stored_key=hashlib.sha256(client_key).digest(),
        server_key=_hmac(salted, b"Server Key"),
    )


class ScramSha256:
    """Server side of SCRAM-SHA-256."""

    name = "SCRAM-SHA-256"

    def __init__(self, *, nonce: str | None = None, fake_salt_key: bytes = _FAKE_SALT_KEY) -> None:
        self._server_nonce = nonce or secrets.token_urlsafe(24)
        self._fake_salt_key = fake_salt_key
        self._state = "first"
        self._first: ClientFirst | None = None
        self._secrets: ScramSecrets | None = None
        self._server_first = ""
        self._server_final = b""

    @property
    def done(self) -> bool:
        """Whether the exchange has ended."""
        return self._state == "done"

    def step(self, data: bytes | None) -> Step:
        """Feed the initial response (or None), then each client line."""
        if self._state in ("done", "secrets"):
            raise LocalProtocolError(f"SCRAM step not expected in state {self._state}")
        initial = self._state == "first" and self._first is None and data is not None
        if data is None:
            if self._state == "first":
                self._state = "first-line"
                return Challenge(b"")
            raise LocalProtocolError("only the initial response may be absent")
        decoded = decode_response(data, initial=initial)
        if isinstance(decoded, Failure):
            return self._fail(decoded)
        if self._state in ("first", "first-line"):
            return self._on_client_first(decoded)
        if self._state == "final":
            return self._on_client_final(decoded)
        if decoded:  # "ack": the client answers the server-final message with nothing
            return self._fail(Failure(FailureReason.MALFORMED, "unexpected data"))
        assert self._first is not None
        self._state = "done"
        return Verified(authcid=self._first.username, authzid=self._first.authzid)

    def provide_secrets(self, found: ScramSecrets | None) -> Challenge:
        """Answer a NeedSecrets step; None (unknown user) continues with fake secrets."""
        if self._state != "secrets" or self._first is None:
            raise LocalProtocolError("provide_secrets without NeedSecrets")
        self._secrets = found or self._fake_secrets(self._first.username)
        nonce = self._first.nonce + self._server_nonce
        salt = base64.b64encode(self._secrets.salt).decode()
        self._server_first = f"r={nonce},s={salt},i={self._secrets.iterations}"
        self._state = "final"
        return Challenge(self._server_first.encode())

    def _on_client_first(self, decoded: bytes) -> Step:
        parsed = parse_client_first(decode_utf8(decoded))
        if isinstance(parsed, Failure):
            return self._fail(parsed)
        self._first = parsed
        self._state = "secrets"
        return NeedSecrets(authcid=parsed.username, authzid=parsed.authzid)

    def _on_client_final(self, decoded: bytes) -> Step:
        assert self._first is not None
        assert self._secrets is not None
        final = parse_client_final(
            decode_utf8(decoded),
            gs2_header=self._first.gs2_header,
            nonce=self._first.nonce + self._server_nonce,
        )
        if isinstance(final, Failure):
            return self._fail(final)
        auth_message = ",".join(
            (self._first.bare, self._server_first, final.without_proof)
        ).encode()
        signature = _hmac(self._secrets.stored_key, auth_message)
        client_key = bytes(a ^ b for a, b in zip(final.proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), self._secrets.stored_key):
            return self._fail(Failure(FailureReason.INVALID_PROOF, "authentication failed"))
        server_signature = _hmac(self._secrets.server_key, auth_message)
        self._state = "ack"
        return Challenge(b"v=" + base64.b64encode(server_signature))

    def _fake_secrets(self, username: str) -> ScramSecrets:
        salt = _hmac(self._fake_salt_key, username.lower().encode())[:16]
        return ScramSecrets(
            salt=salt,
            iterations=DEFAULT_ITERATIONS,
            stored_key=secrets.token_bytes(32),
            server_key=secrets.token_bytes(32),
        )

    def _fail(self, failure: Failure) -> Failure:
        self._state = "done"
        return failure


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()
