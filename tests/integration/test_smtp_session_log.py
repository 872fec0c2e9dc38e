"""Every SMTP session is logged with its id, peer, TLS version and user, and every
transaction with its outcome (issue 3), in records that carry the session id."""

from __future__ import annotations

import logging
import smtplib
import time

import pytest

from posthouse.log import _SessionFilter
from tests.support.server import PASSWORD, ServerThread

ANN = "ann@example.test"
MESSAGE = b"From: ann@example.test\r\nSubject: logged\r\n\r\nhello\r\n"


def _records(caplog: pytest.LogCaptureFixture, sessions: int) -> list[logging.LogRecord]:
    """The posthouse.smtp records, once ``sessions`` session lines were written (bounded)."""
    for _ in range(500):
        records = [r for r in caplog.records if r.name == "posthouse.smtp"]
        if sum(r.getMessage().startswith("session ") for r in records) >= sessions:
            return records
        time.sleep(0.01)
    raise AssertionError([r.getMessage() for r in caplog.records])


def test_sessions_and_transactions_are_logged(server: ServerThread,
                                              caplog: pytest.LogCaptureFixture) -> None:
    server.add_user(ANN)
    caplog.set_level(logging.INFO, logger="posthouse")
    caplog.handler.addFilter(_SessionFilter())  # what the server's own handler adds
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as client:
        client.starttls(context=server.client_tls())
        client.login(ANN, PASSWORD)
        client.sendmail(ANN, [ANN], MESSAGE)
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as client:
        client.sendmail("someone@elsewhere.test", [ANN], MESSAGE)
    records = _records(caplog, 2)
    by_session: dict[str, list[str]] = {}
    for record in records:
        by_session.setdefault(getattr(record, "session", "-"), []).append(record.getMessage())
    assert "-" not in by_session  # every line names its session
    assert len(by_session) == 2
    submission, inbound = by_session.values()
    assert f"auth user={ANN}" in submission
    assert any(line.startswith(f"accepted from=<{ANN}> rcpts=1") for line in submission)
    assert any(line.startswith("session peer=127.0.0.1 proto=submission tls=TLSv1.")
               and line.endswith(f"user={ANN} messages=1") for line in submission)
    assert any(line.startswith("accepted from=<someone@elsewhere.test> rcpts=1")
               for line in inbound)
    assert "session peer=127.0.0.1 proto=smtp tls=- user=- messages=1" in inbound
