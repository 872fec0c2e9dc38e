"""A bounded cache of recent successful password verifications (like Dovecot's auth cache).

Clients that log in every minute (phones polling POP3, many IMAP connections) would otherwise
pay an argon2 verification each time. An entry is keyed by the lower-cased address and an
HMAC of address and password under a random key, so no plaintext password is kept; the
worker processes of one server share the key their parent made, and tell each other of the
entries they store (app.py), so a client's next login in another worker costs no hash.
Each entry remembers the stored hash it was verified against: once the user's password_hash
changes, the entry no longer matches.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from posthouse.clock import Clock, SystemClock


@dataclass(frozen=True, slots=True)
class _CachedLogin:
    verified_hash: str
    expires: float


class VerificationCache:
    """LRU with a size bound and a time-to-live; positive results only."""

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        ttl: float = 600.0,
        clock: Clock | None = None,
        key: bytes | None = None,
    ) -> None:
        if max_entries < 1 or ttl <= 0:
            raise ValueError("max_entries and ttl must be positive")
        self.max_entries = max_entries
        self.ttl = ttl
        self._clock = clock or SystemClock()
        self._key = key or secrets.token_bytes(32)
        self._entries: OrderedDict[tuple[str, bytes], _CachedLogin] = OrderedDict()
        # told of each entry stored here (the other worker processes, which share the key)
        self.on_store: Callable[[str, bytes, str], None] | None = None

    def _slot(self, address: str, password: str) -> tuple[str, bytes]:
        address = address.lower()
        message = address.encode("utf-8", "surrogatepass") + b"\x00"
        message += password.encode("utf-8", "surrogatepass")
        return address, hmac.new(self._key, message, hashlib.sha256).digest()

    def lookup(self, address: str, password: str, current_hash: str) -> bool:
        """Whether this password was verified recently against ``current_hash``."""
        slot = self._slot(address, password)
        entry = self._entries.get(slot)
        if entry is None:
            return False
        if entry.expires <= self._clock.monotonic() or not hmac.compare_digest(
            entry.verified_hash, current_hash
        ):
            del self._entries[slot]
            return False
        self._entries.move_to_end(slot)
        return True

    def may_hold(self, address: str, password: str) -> bool:
        """Whether an unexpired entry for this password exists (not checked against the
        stored hash: ``lookup`` does that); lets a refusal skip the store lookup."""
        entry = self._entries.get(self._slot(address, password))
        return entry is not None and entry.expires > self._clock.monotonic()

    def store(self, address: str, password: str, verified_hash: str) -> None:
        """Remember a successful verification of ``password`` against ``verified_hash``."""
        slot = self._slot(address, password)
        self.store_slot(slot[0], slot[1], verified_hash)
        if self.on_store is not None:
            self.on_store(slot[0], slot[1], verified_hash)

    def store_slot(self, address: str, digest: bytes, verified_hash: str) -> None:
        """Remember a verification by its slot: what ``store`` does, or what another worker
        process of the server (same key) stored."""
        slot = (address.lower(), digest)
        self._entries[slot] = _CachedLogin(verified_hash, self._clock.monotonic() + self.ttl)
        self._entries.move_to_end(slot)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, address: str) -> None:
        """Forget every entry of one address (e.g. after an admin changed its password)."""
        address = address.lower()
        for slot in [slot for slot in self._entries if slot[0] == address]:
            del self._entries[slot]

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
