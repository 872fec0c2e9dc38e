"""The injected clock: everything that asks the time takes a Clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Wall time and a monotonic counter."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never going backwards."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """time.monotonic()."""
        return time.monotonic()
