"""One POP3 session per maildrop (RFC 1939 8: the server must lock the maildrop).

The lock lives in memory and is released in a ``finally``; a session that crashes or whose
connection drops cannot leave it behind, and a restarted server starts with none. Plain
bookkeeping, no IO: the POP3 adapter (serve/pop3.py) makes one and shares it among its
sessions.
"""

from __future__ import annotations


class MaildropLocks:
    """User ids whose maildrop a POP3 session holds."""

    def __init__(self) -> None:
        self._held: set[int] = set()

    def try_acquire(self, user_id: int) -> bool:
        """Take the lock; False if another session holds it ([IN-USE])."""
        if user_id in self._held:
            return False
        self._held.add(user_id)
        return True

    def release(self, user_id: int) -> None:
        """Give it back; idempotent."""
        self._held.discard(user_id)
