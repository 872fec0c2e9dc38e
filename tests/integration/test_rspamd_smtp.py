"""rspamd on port 25, against a private rspamd from Debian's package (tests/support/rspamd.py):
GTUBE refused with 550 5.7.1, a clean message delivered with our X-Spam-Result field (a
sender's X-Spam fields removed), "add header" filed in Junk with X-Spam: Yes, "rewrite
subject", "greylist" and "soft reject" as 451 4.7.1, rspamd unreachable delivers with a
note and one warning, and submission is not scanned."""

from __future__ import annotations

import logging
import smtplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from posthouse.config import AntiabuseConfig, replace_section
from tests.support.rspamd import RspamdServer, available
from tests.support.server import PASSWORD, ServerThread, make_config

ANN = "ann@example.test"
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

pytestmark = pytest.mark.usefixtures("no_server_errors")


@pytest.fixture(scope="module")
def rspamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RspamdServer]:
    why = available()
    if why is not None:
        pytest.skip(why)
    server = RspamdServer(tmp_path_factory.mktemp("rspamd")).start()
    yield server
    server.stop()


def start(data: Path, url: str) -> ServerThread:
    cfg = replace_section(make_config(data),
                          antiabuse=AntiabuseConfig(greet_pause_ms=0, rspamd_url=url))
    server = ServerThread(cfg).start()
    for name in ("ann", "junk", "subject", "grey", "later"):
        server.add_user(f"{name}@example.test")
    return server


@pytest.fixture(scope="module")
def server(rspamd: RspamdServer, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[ServerThread]:
    running = start(tmp_path_factory.mktemp("posthouse") / "data", rspamd.url)
    yield running
    running.stop()


def message(body: str, subject: str = "hello", extra: str = "") -> bytes:
    return (f"{extra}From: Someone <someone@sender.test>\r\nTo: <{ANN}>\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{subject.replace(' ', '.')}@sender.test>\r\n"
            f"Date: Wed, 02 Dec 2026 23:00:00 +0000\r\n\r\n{body}\r\n").encode()


def send(server: ServerThread, data: bytes, rcpt: str = ANN) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=60) as client:
        client.ehlo("client.test")
        client.sendmail("someone@sender.test", [rcpt], data)


def header(stored: bytes) -> bytes:
    return stored.split(b"\r\n\r\n", 1)[0]


def test_gtube_is_rejected_with_550(server: ServerThread) -> None:
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(server, message(GTUBE, "gtube"))
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(b"5.7.1 ")
    assert b"Gtube" in refused.value.smtp_error
    assert not any(b"gtube@" in m for m in server.inbox(ANN))


def test_clean_message_is_delivered_with_the_scan_result(server: ServerThread) -> None:
    send(server, message("Lunch on Friday?", "lunch", extra="X-Spam: No\r\n"))
    stored = header(server.inbox(ANN)[-1])
    assert b"X-Spam-Result: no action; score=" in stored
    assert b"X-Spam: No" not in stored  # only our scan speaks about spam
    # above our Received, like the Authentication-Results field
    assert stored.index(b"X-Spam-Result:") < stored.index(b"Received:")


def test_add_header_files_in_junk(server: ServerThread) -> None:
    send(server, message("buy now", "offer"), rcpt="junk@example.test")
    assert server.inbox("junk@example.test") == []
    junk = header(server.inbox("junk@example.test", "Junk")[-1])
    assert b"X-Spam: Yes\r\n" in junk
    assert b"X-Spam-Score: " in junk
    assert b"X-Spam-Result: add header;" in junk


def test_rewrite_subject(server: ServerThread) -> None:
    send(server, message("buy now", "great offer"), rcpt="subject@example.test")
    stored = header(server.inbox("subject@example.test")[-1])
    assert b"\r\nSubject: [SPAM] great offer\r\n" in stored
    assert stored.count(b"Subject:") == 1


def test_greylist_action_defers_with_451(server: ServerThread) -> None:
    with pytest.raises(smtplib.SMTPDataError) as deferred:
        send(server, message("hello", "greyed"), rcpt="grey@example.test")
    assert deferred.value.smtp_code == 451
    assert deferred.value.smtp_error.startswith(b"4.7.1 ")
    assert server.inbox("grey@example.test") == []


def test_soft_reject_defers_with_rspamds_message(server: ServerThread) -> None:
    with pytest.raises(smtplib.SMTPDataError) as deferred:
        send(server, message("hello", "soft"), rcpt="later@example.test")
    assert deferred.value.smtp_code == 451
    assert deferred.value.smtp_error == b"4.7.1 Try again later"
    assert server.inbox("later@example.test") == []


def test_submission_is_not_scanned(server: ServerThread) -> None:
    server.add_user("bob@example.test")
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=60) as client:
        client.ehlo("laptop")
        client.starttls(context=server.client_tls())
        client.login("bob@example.test", PASSWORD)
        client.sendmail("bob@example.test", [ANN], message(GTUBE, "own test"))
    assert b"X-Spam-Result" not in header(server.inbox(ANN)[-1])


def test_rspamd_unreachable_delivers_with_a_note(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    server = start(tmp_path / "data", f"http://127.0.0.1:{dead}")
    try:
        with caplog.at_level(logging.WARNING, logger="posthouse.antiabuse"):
            send(server, message(GTUBE, "unscanned one"))
            send(server, message(GTUBE, "unscanned two"))
        stored = server.inbox(ANN)
        assert len(stored) == 2
        assert all(b"X-Spam-Result: unchecked (rspamd unavailable)" in m for m in stored)
        warnings = [r for r in caplog.records if "rspamd" in r.getMessage()]
        assert len(warnings) == 1  # once per outage
    finally:
        server.stop()
