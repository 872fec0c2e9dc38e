"""The log line of a failed login says what its two counters count (issue 12, defect 9c).

auth/throttle.py keeps two failure counts: one per source address (an IPv6 /64), which locks
the source out after too many, and one per account, which only delays. The line used to read
``failures=2/1``; it names them now.
"""

from __future__ import annotations

import logging

import pytest

from tests.support.server import ServerThread
from tests.support.smtp_wire import RawSmtp

ANN, BOB = "ann@example.test", "bob@example.test"


def test_a_failed_login_logs_the_source_and_account_counts(
        users: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="posthouse.auth")
    with RawSmtp(users.port("submissions"), tls=users.client_tls()) as s:
        assert s.reply().code == 220
        assert s.cmd("EHLO client.test").code == 250
        for account in (ANN, BOB):  # one AUTH PLAIN each
            assert s.login(account, "not the password").code == 535
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("auth failure")]
    assert len(lines) == 2, lines
    assert f"account='{ANN}'" in lines[0]
    assert "source_failures=1 account_failures=1 " in lines[0], lines[0]
    assert f"account='{BOB}'" in lines[1]
    # the second wrong password from this address, the first for bob
    assert "source_failures=2 account_failures=1 " in lines[1], lines[1]
    assert "failures=2/1" not in lines[1]
