"""Throttling of failed logins, per source address and per account.

Every failure raises a delay the authenticator waits before answering: exponential from
``base_delay``, capped at ``max_delay``, driven by the larger of the two failure counts. A
source with ``max_failures`` failures inside ``window`` seconds is refused for ``lockout``
seconds. Accounts are only delayed, never locked: locking would let anyone lock a user out.
A success resets the account's count (not the source's, so one valid account cannot launder
an address's guesses). IPv6 sources are grouped by /64, the block one host usually gets.
Both tables are bounded; the least recently touched entries go first.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import OrderedDict
from dataclasses import dataclass

from posthouse.clock import Clock, SystemClock

log = logging.getLogger("posthouse.auth")


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """Tunables; the defaults suit a small server."""

    base_delay: float = 0.5
    max_delay: float = 10.0
    window: float = 900.0  # failures older than this (since the last one) are forgotten
    max_failures: int = 10  # per source within the window, then refused
    lockout: float = 900.0
    max_entries: int = 100_000  # per table


@dataclass(slots=True)
class _Record:
    failures: int
    last_failure: float
    refused_until: float = 0.0


def source_key(ip: str) -> str:
    """The throttling key of an address: itself for IPv4, its /64 for IPv6."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


class Throttle:
    """Failure counters with delays and temporary refusal of sources."""

    def __init__(
        self, policy: ThrottlePolicy | None = None, *, clock: Clock | None = None
    ) -> None:
        self.policy = policy or ThrottlePolicy()
        self._clock = clock or SystemClock()
        self._sources: OrderedDict[str, _Record] = OrderedDict()
        self._accounts: OrderedDict[str, _Record] = OrderedDict()

    def _live(self, table: OrderedDict[str, _Record], key: str, now: float) -> _Record | None:
        record = table.get(key)
        if record is None:
            return None
        if now - record.last_failure > self.policy.window and now >= record.refused_until:
            del table[key]
            return None
        return record

    def refused_for(self, ip: str) -> float:
        """Seconds the source is still refused (0.0 if it may try)."""
        now = self._clock.monotonic()
        record = self._live(self._sources, source_key(ip), now)
        return max(0.0, record.refused_until - now) if record else 0.0

    def delay_for(self, failures: int) -> float:
        """The delay after the given number of consecutive failures."""
        if failures <= 0:
            return 0.0
        exponent = min(failures - 1, 32)
        return min(self.policy.max_delay, self.policy.base_delay * 2.0**exponent)

    def record_failure(self, ip: str, account: str, *, reason: str = "bad credentials") -> float:
        """Count a failure, log it, and return the delay to wait before answering."""
        now = self._clock.monotonic()
        source = self._bump(self._sources, source_key(ip), now)
        user = self._bump(self._accounts, account.lower()[:320], now)
        if source.failures >= self.policy.max_failures and source.refused_until <= now:
            source.refused_until = now + self.policy.lockout
            log.warning(
                "auth: refusing source ip=%s for %.0f s after %d failures",
                ip, self.policy.lockout, source.failures,
            )
        delay = self.delay_for(max(source.failures, user.failures))
        # source_failures: from this address (IPv6: its /64) within the window, what locks it
        # out at max_failures; account_failures: for this account since its last success.
        log.warning(
            "auth failure ip=%s account=%r reason=%s source_failures=%d account_failures=%d "
            "delay=%.1fs", ip, account, reason, source.failures, user.failures, delay,
        )
        return delay

    def record_success(self, ip: str, account: str) -> None:
        """Reset the account's counter after a successful login."""
        self._accounts.pop(account.lower()[:320], None)

    def _bump(self, table: OrderedDict[str, _Record], key: str, now: float) -> _Record:
        record = self._live(table, key, now)
        if record is None:
            record = _Record(failures=0, last_failure=now)
            table[key] = record
        record.failures += 1
        record.last_failure = now
        table.move_to_end(key)
        while len(table) > self.policy.max_entries:
            table.popitem(last=False)
        return record
