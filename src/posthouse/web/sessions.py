"""Browser logins (the web admin's, the webmail's): server-side sessions with random ids,
expiry and CSRF tokens.

The cookie carries only a random id (256 bits from ``secrets``); everything else stays in
this table, in memory: a restart logs everyone out. A session ends after ``idle``
seconds without a request, after ``lifetime`` seconds whatever happens, and at logout
(``end``): the id is then worth nothing even to someone who copied the cookie. Each session
has its own CSRF token (a second random value) that every form carries and every POST must
echo (compared in constant time). Past ``max_sessions`` the oldest session goes. Never
does IO; times come from the clock.
"""

from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field

from posthouse.clock import Clock

IDLE_SECONDS = 30 * 60
LIFETIME_SECONDS = 12 * 3600
MAX_SESSIONS = 1000


@dataclass
class WebSession:
    """One logged-in browser."""

    id: str
    address: str
    user_id: int
    csrf: str
    created: float
    last_seen: float
    notices: list[str] = field(default_factory=list)  # shown once, on the next page

    def csrf_matches(self, token: str | None) -> bool:
        """Whether a form's token is this session's (constant time)."""
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class WebSessions:
    """The table of live sessions."""

    def __init__(self, clock: Clock, *, idle: float = IDLE_SECONDS,
                 lifetime: float = LIFETIME_SECONDS, max_sessions: int = MAX_SESSIONS) -> None:
        self._clock = clock
        self._idle = idle
        self._lifetime = lifetime
        self._max = max_sessions
        self._sessions: OrderedDict[str, WebSession] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, address: str, user_id: int = 0) -> WebSession:
        """A new session for an account that just logged in."""
        now = self._clock.monotonic()
        session = WebSession(secrets.token_urlsafe(32), address, user_id,
                             secrets.token_urlsafe(32), now, now)
        self._sessions[session.id] = session
        while len(self._sessions) > self._max:
            self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> WebSession | None:
        """The live session of a cookie's id (touched: its idle time starts again), or None
        for an unknown, ended or expired one."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock.monotonic()
        if now - session.last_seen > self._idle or now - session.created > self._lifetime:
            del self._sessions[session_id]
            return None
        session.last_seen = now
        self._sessions.move_to_end(session_id)
        return session

    def end(self, session_id: str) -> None:
        """Logout: the id is forgotten."""
        self._sessions.pop(session_id, None)

    def end_all_of(self, address: str, *, keep: str | None = None) -> None:
        """Every session of an account (its role or password changed, it was removed) but
        ``keep`` (the session that made the change)."""
        for sid in [s.id for s in self._sessions.values()
                    if s.address == address and s.id != keep]:
            del self._sessions[sid]
