"""Who a JMAP request is from: HTTP Basic (RFC 7617) through the one Authenticator, or a
bearer token (RFC 6750) that ``POST /jmap/login`` hands out after a Basic login.

Both only over HTTPS (the routes are HTTPS_ONLY). Basic runs every request through the
Authenticator (its login cache keeps that cheap; its per-IP/per-account throttle and the
argon2 slot scheduler apply as to mail logins). Tokens are 256-bit random strings kept in
memory with an expiry: a restart or ``DELETE /jmap/login`` ends them.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from posthouse.auth.authenticator import Authenticator, Principal
from posthouse.auth.scheduler import HashBusy
from posthouse.web.messages import HttpRequest
from posthouse.web.mobileconfig import basic_credentials

REALM = 'Basic realm="posthouse JMAP", charset="UTF-8"'
TOKEN_SECONDS = 24 * 3600
MAX_TOKENS = 10000


class JmapAuthBusy(Exception):
    """The password hash queue is full: 503, try again."""


@dataclass(frozen=True)
class _IssuedToken:
    principal: Principal
    expires: float


class JmapTokens:
    """Bearer tokens issued by the login endpoint (in memory)."""

    def __init__(self, lifetime: int = TOKEN_SECONDS) -> None:
        self.lifetime = lifetime
        self._tokens: dict[str, _IssuedToken] = {}

    def issue(self, principal: Principal) -> str:
        """A new token for ``principal``."""
        now = time.monotonic()
        if len(self._tokens) >= MAX_TOKENS:
            self._tokens = {k: t for k, t in self._tokens.items() if t.expires > now}
            while len(self._tokens) >= MAX_TOKENS:
                self._tokens.pop(next(iter(self._tokens)))
        token = secrets.token_urlsafe(32)
        self._tokens[token] = _IssuedToken(principal, now + self.lifetime)
        return token

    def check(self, token: str) -> Principal | None:
        """The principal of a live token, or None."""
        found = self._tokens.get(token)
        if found is None:
            return None
        if found.expires <= time.monotonic():
            del self._tokens[token]
            return None
        return found.principal

    def revoke(self, token: str) -> None:
        self._tokens.pop(token, None)


def bearer_token(request: HttpRequest) -> str | None:
    """The token of an ``Authorization: Bearer`` field, or None."""
    header = request.header("authorization") or ""
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def authenticate(request: HttpRequest, authenticator: Authenticator,
                       tokens: JmapTokens) -> Principal | None:
    """The principal a request authenticates as, or None (JmapAuthBusy when the hash
    queue is full)."""
    token = bearer_token(request)
    if token is not None:
        return tokens.check(token)
    credentials = basic_credentials(request.header("authorization"))
    if credentials is None:
        return None
    try:
        return await authenticator.authenticate(*credentials, remote_ip=request.peer)
    except HashBusy:
        raise JmapAuthBusy from None
