"""Connection limits shared by every listener: a global cap and a per-IP cap."""

from __future__ import annotations


class ConnectionLimiter:
    """Counts open connections; ``acquire`` says whether one more may be served."""

    def __init__(self, *, max_total: int, max_per_ip: int) -> None:
        self.max_total = max_total
        self.max_per_ip = max_per_ip
        self.total = 0
        self._per_ip: dict[str, int] = {}

    def acquire(self, ip: str) -> bool:
        """Count a new connection from ip; False (and nothing counted) if over a limit."""
        if self.total >= self.max_total or self._per_ip.get(ip, 0) >= self.max_per_ip:
            return False
        self.total += 1
        self._per_ip[ip] = self._per_ip.get(ip, 0) + 1
        return True

    def release(self, ip: str) -> None:
        """Forget one connection from ip."""
        self.total -= 1
        left = self._per_ip.get(ip, 0) - 1
        if left > 0:
            self._per_ip[ip] = left
        else:
            self._per_ip.pop(ip, None)
