"""The null reverse-path on submission (issue 12, defect 9a).

Read receipts are sent with ``MAIL FROM:<>`` (RFC 8098 3: an MDN's envelope sender should be
null, so nothing answers it), and a null reverse-path names no one (RFC 5321 4.5.5): there is
no address for the user to own. An authenticated submission (RFC 6409) may use it; its
recipients are routed as for any submission: local ones delivered, remote ones queued, still
signed as the user's. It opens no relay: port 25 takes a null sender for local recipients
only, and submission without AUTH takes nothing.
"""

from __future__ import annotations

import dataclasses
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from posthouse.config import QueueConfig
from tests.support.peers import free_port
from tests.support.server import PASSWORD, ServerThread, make_config
from tests.support.smtp_wire import RawSmtp, trace_fields

ANN, BOB, CAROL = "ann@example.test", "bob@example.test", "carol@remote.test"
RECEIPT = (b"From: ann@example.test\r\nTo: bob@example.test, carol@remote.test\r\n"
           b"Subject: Read: lunch?\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/report; report-type=disposition-notification;"
           b" boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nYour message was"
           b" displayed.\r\n--b1\r\nContent-Type: message/disposition-notification\r\n\r\n"
           b"Final-Recipient: rfc822;ann@example.test\r\n"
           b"Disposition: manual-action/MDN-sent-manually; displayed\r\n--b1--\r\n")


# The server must log no ERROR during any test of this module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("no_server_errors")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    """tests/conftest.py's server (``users`` adds ann and bob), but remote mail goes to a
    smarthost that refuses connections: it stays queued where the test can read it."""
    cfg = dataclasses.replace(make_config(tmp_path / "data"), queue=QueueConfig(
        smarthost=f"127.0.0.1:{free_port()}", smarthost_tls="none",
        retry_initial_seconds=3600))
    with ServerThread(cfg) as srv:
        yield srv


def logged_in(server: ServerThread, listener: str) -> smtplib.SMTP:
    """smtplib on 587 after STARTTLS, or on 465, logged in as ann."""
    client: smtplib.SMTP
    if listener == "submission":
        client = smtplib.SMTP("127.0.0.1", server.port(listener), timeout=30)
        client.starttls(context=server.client_tls())
    else:
        client = smtplib.SMTP_SSL("127.0.0.1", server.port(listener),
                                  context=server.client_tls(), timeout=30)
    client.login(ANN, PASSWORD)
    return client


@pytest.mark.parametrize("listener", ["submission", "submissions"])
def test_a_read_receipt_with_the_null_sender_is_submitted(users: ServerThread,
                                                          listener: str) -> None:
    with logged_in(users, listener) as client:
        assert client.sendmail("", [BOB, CAROL], RECEIPT) == {}  # MAIL FROM:<>
    (stored,) = users.inbox(BOB)
    assert trace_fields(stored).startswith(b"Return-Path: <>\r\n")
    (queued,) = users.call(users.store.list_queue())
    assert queued.envelope.mail_from == ""
    assert [r.address for r in queued.envelope.recipients] == [CAROL]
    ann = users.call(users.store.get_user(ANN))
    assert queued.envelope.sender_user_id == ann.id  # signed as ann's domain, like her mail


def test_the_null_sender_does_not_open_a_relay(users: ServerThread) -> None:
    with RawSmtp(users.port("smtp")) as s:  # port 25: local recipients only, as before
        assert s.reply().code == 220
        assert s.cmd("EHLO client.test").code == 250
        assert s.cmd("MAIL FROM:<>").code == 250
        reply = s.cmd(f"RCPT TO:<{CAROL}>")
        assert (reply.code, reply.enhanced) == (554, "5.7.1"), reply
    with smtplib.SMTP("127.0.0.1", users.port("submission"), timeout=30) as client:
        client.starttls(context=users.client_tls())  # no AUTH
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("", [CAROL], RECEIPT)
        assert refused.value.smtp_code == 530
    assert users.call(users.store.list_queue()) == []
