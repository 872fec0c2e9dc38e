"""Retry schedule: doubling from retry_initial_seconds, capped, expiry and the delay notice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from posthouse.queue.scheduler import (
    delay_warning_due,
    expires_at,
    is_expired,
    next_attempt,
    retry_delay,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def test_doubling_then_cap() -> None:
    delays = [retry_delay(n, initial=300, cap=3600).total_seconds() for n in range(1, 8)]
    assert delays == [300, 600, 1200, 2400, 3600, 3600, 3600]


def test_next_attempt_adds_the_delay() -> None:
    assert next_attempt(T0, 2, initial=60, cap=3600) == T0 + timedelta(seconds=120)


@given(st.integers(min_value=-5, max_value=10**6), st.integers(0, 10**5), st.integers(0, 10**6))
def test_delay_is_bounded_and_monotonic(tries: int, initial: int, cap: int) -> None:
    d = retry_delay(tries, initial=initial, cap=cap)
    assert timedelta(0) <= d <= timedelta(seconds=max(cap, 0))
    assert d <= retry_delay(tries + 1, initial=initial, cap=cap)


def test_expiry_and_delay_warning_once() -> None:
    assert not is_expired(T0, T0 + timedelta(seconds=99), 100)
    assert is_expired(T0, T0 + timedelta(seconds=100), 100)
    assert expires_at(T0, 100) == T0 + timedelta(seconds=100)
    later = T0 + timedelta(hours=5)
    assert delay_warning_due(T0, later, 4 * 3600, already_warned=False)
    assert not delay_warning_due(T0, later, 4 * 3600, already_warned=True)
    assert not delay_warning_due(T0, T0 + timedelta(hours=3), 4 * 3600, already_warned=False)
