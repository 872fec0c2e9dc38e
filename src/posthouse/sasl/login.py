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
    SteppedMechanism,
    decode_utf8,
)

USERNAME_PROMPT = b"Username:"
PASSWORD_PROMPT = b"Password:"


class LoginMechanism(SteppedMechanism):
    """Server side of LOGIN."""

    name = "LOGIN"
    first_challenge = USERNAME_PROMPT

    def __init__(self) -> None:
        super().__init__()
        self._username: str | None = None

    def _on_message(self, decoded: bytes, *, initial: bool) -> Step:
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
