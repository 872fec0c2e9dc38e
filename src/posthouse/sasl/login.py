"""LOGIN: the de-facto mechanism (draft-murchison-sasl-login) used by older clients.

The server sends "Username:" and "Password:" challenges; the client answers each in base64.
A client may send the user name as an initial response, which skips the first challenge.
"""

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

USERNAME_PROMPT = b"Username:"
PASSWORD_PROMPT = b"Password:"


class Login:
    """Server side of LOGIN."""

    name = "LOGIN"

    def __init__(self) -> None:
        self._calls = 0
        self._username: str | None = None
        self._done = False

    @property
    def done(self) -> bool:
        """Whether the exchange has ended."""
        return self._done

    def step(self, data: bytes | None) -> Step:
        """Feed the initial response (or None), then each client line."""
        if self._done:
            raise LocalProtocolError("LOGIN exchange already finished")
        initial = self._calls == 0
        self._calls += 1
        if data is None:
            if initial:
                return Challenge(USERNAME_PROMPT)
            raise LocalProtocolError("only the initial response may be absent")
        decoded = decode_response(data, initial=initial)
        if isinstance(decoded, Failure):
            return self._finish(decoded)
        if initial and not decoded:  # "AUTH LOGIN =": as if no initial response was given
            return Challenge(USERNAME_PROMPT)
        text = decode_utf8(decoded)
        if text is None or "\x00" in text:
            return self._finish(Failure(FailureReason.MALFORMED, "LOGIN field must be UTF-8"))
        if self._username is None:
            if not text:
                return self._finish(Failure(FailureReason.MALFORMED, "empty user name"))
            self._username = text
            return Challenge(PASSWORD_PROMPT)
        if not text:
            return self._finish(Failure(FailureReason.MALFORMED, "empty password"))
        return self._finish(Credentials(authcid=self._username, password=text))

    def _finish(self, result: Credentials | Failure) -> Step:
        self._done = True
        return result
