"""A clock for tests: implements posthouse.clock.Clock, moved by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """A posthouse.clock.Clock whose monotonic time the test moves."""

    def __init__(self) -> None:
        self.mono = 1000.0

    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.mono)

    def monotonic(self) -> float:
        return self.mono
