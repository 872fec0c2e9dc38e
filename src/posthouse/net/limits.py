"""Connection limits and client pace.

``ConnectionLimiter``: an overall ceiling (``max_total``, ``max_per_ip``) over every listener,
and a cap of its own for each listener (``max_per_listener``, ``max_per_ip_per_listener``), so
that a flood on one protocol cannot take the connections the others need (issue 12, defect 3).

``MinRate``: how fast bulk input (SMTP DATA/BDAT, an IMAP literal) must arrive, averaged over
windows; ``net.connection.Connection.read`` enforces it (issue 12, defect 4).

``raise_open_files_limit``: the soft descriptor limit raised to the hard one at start.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class MinRate:
    """At least ``bytes_per_second`` on average over each window of ``window_seconds``."""

    bytes_per_second: int
    window_seconds: float

    @property
    def per_window(self) -> float:
        """The bytes a window must bring."""
        return self.bytes_per_second * self.window_seconds


class ConnectionLimiter:
    """Counts open connections; ``acquire`` says whether one more may be served.

    The per-listener caps default to the overall ones (no extra limit)."""

    def __init__(self, *, max_total: int, max_per_ip: int, max_per_listener: int | None = None,
                 max_per_ip_per_listener: int | None = None) -> None:
        self.max_total = max_total
        self.max_per_ip = max_per_ip
        self.max_per_listener = max_total if max_per_listener is None else max_per_listener
        self.max_per_ip_per_listener = (
            max_per_ip if max_per_ip_per_listener is None else max_per_ip_per_listener)
        self.total = 0
        self._per_ip: dict[str, int] = {}
        self._per_listener: dict[str, int] = {}
        self._per_ip_listener: dict[tuple[str, str], int] = {}

    def acquire(self, ip: str, listener: str = "") -> bool:
        """Count a new connection from ip on listener; False (and nothing counted) if over a
        limit: the overall ceiling, the per-IP one, the listener's cap or its per-IP cap."""
        key = (listener, ip)
        if (self.total >= self.max_total or self._per_ip.get(ip, 0) >= self.max_per_ip
                or self._per_listener.get(listener, 0) >= self.max_per_listener
                or self._per_ip_listener.get(key, 0) >= self.max_per_ip_per_listener):
            return False
        self.total += 1
        _add(self._per_ip, ip, 1)
        _add(self._per_listener, listener, 1)
        _add(self._per_ip_listener, key, 1)
        return True

    def release(self, ip: str, listener: str = "") -> None:
        """Forget one connection from ip on listener."""
        self.total -= 1
        _add(self._per_ip, ip, -1)
        _add(self._per_listener, listener, -1)
        _add(self._per_ip_listener, (listener, ip), -1)

    def count(self, listener: str) -> int:
        """Connections now counted on a listener."""
        return self._per_listener.get(listener, 0)


def _add(counts: dict[K, int], key: K, step: int) -> None:
    left = counts.get(key, 0) + step
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


def raise_open_files_limit() -> tuple[int, int]:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit: every connection is a
    descriptor (the default soft limit, often 1024, would cap a server far below its
    ``max_connections``). Returns (soft, hard) after the attempt; (0, 0) where the
    platform has no such limit."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return 0, 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard
