"""Rate limits per client network, per MAIL FROM sender and per authenticated user.

Owns the counters: messages and recipients in a fixed window per key, in memory (a restart
forgives). Keys are made here (``ip_key`` folds an IPv6 address to its /64, the unit a
single host is usually given). Never refuses by itself: callers turn "over" into 4xx replies.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_KEYS = 200_000  # past this, the counters of finished windows are dropped first


def ip_key(ip: str, v4_prefix: int = 32, v6_prefix: int = 64) -> str:
    """The network a client address counts in: the address itself for IPv4 (or its
    ``v4_prefix``), its /64 for IPv6."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    prefix = v4_prefix if isinstance(addr, ipaddress.IPv4Address) else v6_prefix
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``messages`` messages and ``recipients`` recipients per window (0: no cap)."""

    messages: int
    recipients: int


@dataclass(slots=True)
class _Count:
    start: float
    messages: int = 0
    recipients: int = 0


class RateLimiter:
    """Fixed-window counters, one per key (``"ip:..."``, ``"from:..."``, ``"user:..."``)."""

    def __init__(self, window_seconds: float,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._window = window_seconds
        self._now = now
        self._counts: dict[str, _Count] = {}

    def _count(self, key: str) -> _Count:
        now = self._now()
        count = self._counts.get(key)
        if count is None or now - count.start >= self._window:
            if count is None and len(self._counts) >= MAX_KEYS:
                self._prune(now)
            count = self._counts[key] = _Count(now)
        return count

    def _prune(self, now: float) -> None:
        stale = [k for k, c in self._counts.items() if now - c.start >= self._window]
        for key in stale or list(self._counts)[: len(self._counts) // 2]:
            del self._counts[key]

    def message_allowed(self, keys: dict[str, Limit]) -> bool:
        """Whether one more message fits every key's limit (it is not counted yet)."""
        return all(not lim.messages or self._count(k).messages < lim.messages
                   for k, lim in keys.items())

    def count_message(self, keys: dict[str, Limit]) -> None:
        """Count a message that was accepted."""
        for key in keys:
            self._count(key).messages += 1

    def take_recipient(self, keys: dict[str, Limit]) -> bool:
        """Count one recipient against every key, or none and False if any is over."""
        counts = [(self._count(k), lim) for k, lim in keys.items()]
        if any(lim.recipients and c.recipients >= lim.recipients for c, lim in counts):
            return False
        for count, _lim in counts:
            count.recipients += 1
        return True

    def seconds_left(self, keys: dict[str, Limit]) -> int:
        """Until the latest of the keys' windows ends (for the reply text)."""
        now = self._now()
        left = [self._window - (now - self._count(k).start) for k in keys]
        return max(1, int(max(left, default=0.0)) + 1)
