"""The reference peers themselves work: private Postfix, Dovecot, smtp-source and smtp-sink."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.peers import (
    LOOPBACK,
    DovecotPeer,
    PeerError,
    PostfixPeer,
    free_port,
    run_smtp_source,
    sample_message,
    scratch_dir,
    smtp_sink,
    smtp_source,
)

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

ANN = "ann@example.test"
PASSWORD = "peer secret 1"


@pytest.fixture
def lab() -> Iterator[Path]:
    """A scratch folder the peers' unprivileged processes can enter."""
    with scratch_dir() as path:
        yield path


@pytest.fixture
def postfix(lab: Path) -> Iterator[PostfixPeer]:
    with PostfixPeer(lab / "postfix", smtp_port=free_port(), mailboxes=["ann", "bob"]) as pf:
        yield pf


@pytest.fixture
def dovecot(lab: Path) -> Iterator[DovecotPeer]:
    peer = DovecotPeer(lab / "dovecot", imap_port=free_port(), pop3_port=free_port(),
                       users={ANN: PASSWORD})
    with peer:
        yield peer


def _trust_anything() -> ssl.SSLContext:
    """The peers' certificates are self-signed throw-aways."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_postfix_delivers_to_maildir(postfix: PostfixPeer) -> None:
    with smtplib.SMTP(LOOPBACK, postfix.smtp_port, timeout=10) as client:
        for i in range(3):
            client.sendmail("sender@example.org", [ANN], sample_message(i, recipient=ANN))
    assert postfix.wait_for_count(ANN, 3) == 3
    bodies = postfix.messages(ANN)
    assert all(b"Delivered-To: ann@example.test" in m for m in bodies)
    assert [m.count(b"Subject: sample message ") for m in bodies] == [1, 1, 1]
    assert postfix.maildir_count("bob@example.test") == 0


def test_postfix_rejects_unknown_mailbox(postfix: PostfixPeer) -> None:
    with smtplib.SMTP(LOOPBACK, postfix.smtp_port, timeout=10) as client:
        client.ehlo()
        client.mail("sender@example.org")
        code, _ = client.rcpt("nobody@example.test")
    assert code == 550


def test_postfix_relays_over_starttls_into_another_peer(lab: Path) -> None:
    target = PostfixPeer(lab / "target", smtp_port=free_port(), mailboxes=["bob"], tls=True)
    relay = PostfixPeer(lab / "relay", smtp_port=free_port(), mode="relay",
                        relay_to=(LOOPBACK, target.smtp_port), mydomain="relay.test", tls=True)
    with target, relay, smtplib.SMTP(LOOPBACK, relay.smtp_port, timeout=10) as client:
        client.starttls(context=_trust_anything())
        client.sendmail("someone@elsewhere.test", ["bob@example.test"], sample_message(7))
        assert target.wait_for_count("bob@example.test", 1) == 1
        assert relay.wait_queue_empty(10)
    (message,) = target.messages("bob@example.test")
    assert b"by peer.relay.test (Postfix) with ESMTPS" in message
    assert b"TLS connection established to 127.0.0.1" in relay.log_path.read_bytes()


def test_smtp_source_counts_and_refusals(postfix: PostfixPeer) -> None:
    seconds, rc = smtp_source(postfix.smtp_port, sessions=2, messages=10, size=2048,
                              recipient="bob@example.test")
    assert rc == 0
    assert seconds > 0
    assert postfix.wait_for_count("bob@example.test", 10) == 10
    refused = run_smtp_source(postfix.smtp_port, recipient="nobody@example.test")
    assert refused.rc != 0
    assert "User unknown" in refused.output


def test_smtp_sink_counts_messages() -> None:
    with smtp_sink(free_port()) as sink:
        _seconds, rc = smtp_source(sink.port, sessions=4, messages=50, reuse_connection=True)
        assert rc == 0
        assert sink.wait_delivered(50, 5)
        assert sink.delivered() == 50


def test_dovecot_pop3_reads_prefilled_inbox(dovecot: DovecotPeer) -> None:
    sent = dovecot.prefill(ANN, 5)
    client = poplib.POP3(LOOPBACK, dovecot.pop3_port, timeout=10)
    try:
        client.user(ANN)
        client.pass_(PASSWORD)
        assert client.stat()[0] == 5
        _resp, uidls, _octets = client.uidl()
        assert len(uidls) == 5
        got = [b"\n".join(client.retr(i)[1]) + b"\n" for i in range(1, 6)]
    finally:
        client.quit()
    assert got == sent


def test_dovecot_imap_reads_prefilled_inbox(dovecot: DovecotPeer) -> None:
    sent = dovecot.prefill(ANN, 5, size=3000)
    client = imaplib.IMAP4(LOOPBACK, dovecot.imap_port, timeout=10)
    try:
        client.login(ANN, PASSWORD)
        status, data = client.select("INBOX")
        assert (status, data) == ("OK", [b"5"])
        status, fetched = client.uid("FETCH", "1:*", "(BODY.PEEK[])")
        bodies = [part[1] for part in fetched if isinstance(part, tuple)]
    finally:
        client.logout()
    assert status == "OK"
    assert [b.replace(b"\r\n", b"\n") for b in bodies] == sent


def test_dovecot_rejects_a_wrong_password(dovecot: DovecotPeer) -> None:
    client = imaplib.IMAP4(LOOPBACK, dovecot.imap_port, timeout=10)
    try:
        with pytest.raises(imaplib.IMAP4.error):
            client.login(ANN, "wrong password")
    finally:
        client.shutdown()


def test_start_failure_reports_the_log(lab: Path) -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        peer = PostfixPeer(lab / "clash", smtp_port=port, mailboxes=["ann"])
        with pytest.raises(PeerError, match="already in use"), peer:
            pass
        dovecot = DovecotPeer(lab / "clash-dovecot", imap_port=port, pop3_port=free_port(),
                              users={ANN: PASSWORD})
        with pytest.raises(PeerError, match="already in use"), dovecot:
            pass
    assert peer.master_pid is None
    assert dovecot.proc is None


def test_postfix_config_error_is_reported(lab: Path) -> None:
    peer = PostfixPeer(lab / "broken", smtp_port=free_port(), mydomain="bad domain")
    with pytest.raises(PeerError, match="bad parameter value"), peer:
        pass
    assert peer.master_pid is None
