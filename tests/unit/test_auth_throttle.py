"""Failure throttling: growing delays, refusal of a source, resets, bounded memory, logging."""

from __future__ import annotations

import logging

import pytest

from posthouse.auth import Throttle, ThrottlePolicy, source_key
from tests.support.clock import FakeClock


def make(**kw: float) -> tuple[Throttle, FakeClock]:
    clock = FakeClock()
    return Throttle(ThrottlePolicy(**kw), clock=clock), clock  # type: ignore[arg-type]


def test_delay_grows_exponentially_and_is_capped() -> None:
    throttle, _ = make(max_failures=100)
    delays = [throttle.record_failure("192.0.2.1", "a@x.org") for _ in range(8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_account_delay_follows_the_account_across_sources() -> None:
    throttle, _ = make(max_failures=100)
    throttle.record_failure("192.0.2.1", "a@x.org")
    throttle.record_failure("192.0.2.2", "a@x.org")
    assert throttle.record_failure("192.0.2.3", "A@X.org") == 2.0


def test_success_resets_the_account_but_not_the_source() -> None:
    throttle, _ = make(max_failures=100)
    for _ in range(3):
        throttle.record_failure("192.0.2.1", "a@x.org")
    throttle.record_success("192.0.2.1", "a@x.org")
    assert throttle.record_failure("192.0.2.9", "a@x.org") == 0.5  # account count reset
    assert throttle.record_failure("192.0.2.1", "b@x.org") == 4.0  # source count kept


def test_source_refused_after_max_failures_then_released() -> None:
    throttle, clock = make(max_failures=3, lockout=60, window=30)
    for _ in range(2):
        throttle.record_failure("192.0.2.1", "a@x.org")
    assert throttle.refused_for("192.0.2.1") == 0.0
    throttle.record_failure("192.0.2.1", "a@x.org")
    assert throttle.refused_for("192.0.2.1") == 60.0
    assert throttle.refused_for("192.0.2.2") == 0.0
    clock.mono += 59
    assert throttle.refused_for("192.0.2.1") == pytest.approx(1.0)
    clock.mono += 1
    assert throttle.refused_for("192.0.2.1") == 0.0


def test_counts_expire_after_a_quiet_window() -> None:
    throttle, clock = make(window=100, max_failures=100)
    for _ in range(4):
        throttle.record_failure("192.0.2.1", "a@x.org")
    clock.mono += 101
    assert throttle.record_failure("192.0.2.1", "a@x.org") == 0.5


def test_memory_is_bounded() -> None:
    throttle, _ = make(max_entries=10, max_failures=100)
    for i in range(100):
        throttle.record_failure(f"10.0.0.{i}", f"user{i}@x.org")
    assert len(throttle._sources) == 10
    assert len(throttle._accounts) == 10


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::/64"),
        ("2001:db8::ffff:1", "2001:db8::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("not-an-ip", "not-an-ip"),
    ],
)
def test_source_key(ip: str, key: str) -> None:
    assert source_key(ip) == key


def test_ipv6_neighbours_share_a_counter() -> None:
    throttle, _ = make(max_failures=100)
    throttle.record_failure("2001:db8::1", "a@x.org")
    assert throttle.record_failure("2001:db8::2", "b@x.org") == 1.0


def test_every_failure_is_logged_without_password(caplog: pytest.LogCaptureFixture) -> None:
    throttle, _ = make()
    with caplog.at_level(logging.WARNING, logger="posthouse.auth"):
        throttle.record_failure("192.0.2.1", "evil\r\nuser@x.org", reason="wrong password")
    [record] = caplog.records
    assert record.name == "posthouse.auth"
    message = record.getMessage()
    assert "ip=192.0.2.1" in message
    assert "'evil\\r\\nuser@x.org'" in message  # control characters cannot forge log lines
    assert "\n" not in message


def test_delay_for_zero() -> None:
    throttle, _ = make()
    assert throttle.delay_for(0) == 0.0
    assert throttle.delay_for(10_000) == 10.0
