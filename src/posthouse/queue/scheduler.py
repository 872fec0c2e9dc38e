"""When to try again, when to warn, when to give up: pure functions of the [queue] settings."""

from __future__ import annotations

from datetime import datetime, timedelta

# 2**60 seconds exceeds any cap; larger exponents are not computed.
_MAX_DOUBLINGS = 60


def retry_delay(tries: int, *, initial: float, cap: float) -> timedelta:
    """The wait after the ``tries``-th failed try (1-based): ``initial`` doubling with each
    try, never more than ``cap``."""
    doublings = min(max(tries - 1, 0), _MAX_DOUBLINGS)
    return timedelta(seconds=min(initial * 2**doublings, cap))


def next_attempt(now: datetime, tries: int, *, initial: float, cap: float) -> datetime:
    """When the next try is due after ``tries`` failed ones."""
    return now + retry_delay(tries, initial=initial, cap=cap)


def is_expired(created: datetime, now: datetime, expire_seconds: float) -> bool:
    """A message older than ``expire_seconds`` is given up (its pending recipients fail)."""
    return now - created >= timedelta(seconds=expire_seconds)


def expires_at(created: datetime, expire_seconds: float) -> datetime:
    """The Will-Retry-Until of a delay notice (RFC 3464 2.3.9)."""
    return created + timedelta(seconds=expire_seconds)


def delay_warning_due(created: datetime, now: datetime, warning_seconds: float,
                      *, already_warned: bool) -> bool:
    """A delay notice is sent once, when the message has waited ``warning_seconds``."""
    return not already_warned and now - created >= timedelta(seconds=warning_seconds)
