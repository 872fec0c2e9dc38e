"""Refusals over real sockets, each with its reply code and enhanced status code (RFC 3463):
no open relay, unknown users, AUTH only over TLS, bad passwords, sender ownership, SIZE, long
lines, quota, and clients that vanish in the middle of a message.
"""

from __future__ import annotations

import base64
import dataclasses
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mail import deliver
from tests.support.server import PASSWORD, ServerThread, make_config
from tests.support.smtp_wire import RawSmtp, strip_trace

ANN, BOB = "ann@example.test", "bob@example.test"
MAX_SIZE = 4096
SMALL = b"Subject: small\r\n\r\nsmall message\r\n"


# The server must log no ERROR during any test of this module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("no_server_errors")


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[ServerThread]:
    """limits.max_message_size = 4096; ann exists."""
    cfg = make_config(tmp_path / "data")
    cfg = dataclasses.replace(cfg, limits=dataclasses.replace(cfg.limits,
                                                              max_message_size=MAX_SIZE))
    srv = ServerThread(cfg).start()
    try:
        srv.add_user(ANN)
        yield srv
    finally:
        srv.stop()


def mx(server: ServerThread) -> RawSmtp:
    """A raw session on port 25, greeted and EHLO'd."""
    s = RawSmtp(server.port("smtp"))
    assert s.reply().code == 220
    assert s.cmd("EHLO client.test").code == 250
    return s


def submission(server: ServerThread, *, login: str | None = ANN) -> RawSmtp:
    """A raw session on 465 (implicit TLS), EHLO'd and logged in as ``login``."""
    s = RawSmtp(server.port("submissions"), tls=server.client_tls())
    assert s.reply().code == 220
    assert s.cmd("EHLO client.test").code == 250
    if login:
        assert s.login(login).code == 235
    return s


def all_inboxes_empty(server: ServerThread, *users: str) -> bool:
    return all(server.inbox(u) == [] for u in users)


# -- port 25: relay and unknown users -------------------------------------------------------

@pytest.mark.parametrize("rcpt", [
    "someone@remote.test",
    "someone@EXAMPLE.test.remote.test",
    "@example.test:someone@remote.test",  # a source route still ends at remote.test
    "someone@[127.0.0.1]",
])
def test_relay_attempt_on_25_is_554(users: ServerThread, rcpt: str) -> None:
    with mx(users) as s:
        assert s.cmd(f"MAIL FROM:<{ANN}>").code == 250  # a local sender changes nothing
        reply = s.cmd(f"RCPT TO:<{rcpt}>")
        assert (reply.code, reply.enhanced) == (554, "5.7.1"), reply
        assert s.cmd("DATA").code == 554  # no valid recipients
    assert users.call(users.store.list_queue()) == []


def test_unknown_user_is_550_and_others_still_get_it(users: ServerThread) -> None:
    with mx(users) as s:
        assert s.cmd("MAIL FROM:<peer@remote.test>").code == 250
        reply = s.cmd("RCPT TO:<nobody@example.test>")
        assert (reply.code, reply.enhanced) == (550, "5.1.1"), reply
        reply = s.cmd("RCPT TO:<ann+tag@EXAMPLE.TEST>")
        assert reply.code == 250
        assert s.cmd("DATA").code == 354
        s.send(SMALL + b".\r\n")
        assert s.reply().code == 250
    assert [strip_trace(m) for m in users.inbox(ANN)] == [SMALL]


def test_port_25_offers_no_auth(users: ServerThread) -> None:
    token = base64.b64encode(f"\0{ANN}\0{PASSWORD}".encode()).decode()
    with mx(users) as s:
        reply = s.cmd(f"AUTH PLAIN {token}")
        assert (reply.code, reply.enhanced) == (502, "5.5.1"), reply
        assert s.cmd("STARTTLS").code == 220
        s.starttls(users.client_tls())
        ehlo = s.cmd("EHLO client.test")
        assert not any(line.startswith("AUTH") for line in ehlo.lines)
        assert s.cmd(f"AUTH PLAIN {token}").code == 502


# -- submission: AUTH, passwords, sender ownership ------------------------------------------

def test_auth_before_starttls_on_587_is_refused(users: ServerThread) -> None:
    token = base64.b64encode(f"\0{ANN}\0{PASSWORD}".encode()).decode()
    with RawSmtp(users.port("submission")) as s:
        assert s.reply().code == 220
        ehlo = s.cmd("EHLO client.test")
        assert "STARTTLS" in ehlo.lines
        assert not any(line.startswith("AUTH") for line in ehlo.lines)
        for command in (f"AUTH PLAIN {token}", "AUTH LOGIN", "AUTH PLAIN"):
            reply = s.cmd(command)
            assert (reply.code, reply.enhanced) == (530, "5.7.0"), reply
        reply = s.cmd(f"MAIL FROM:<{ANN}>")  # no mail without AUTH on submission
        assert (reply.code, reply.enhanced) == (530, "5.7.0"), reply
        assert s.cmd("STARTTLS").code == 220
        s.starttls(users.client_tls())
        assert any(line.startswith("AUTH ") for line in s.cmd("EHLO client.test").lines)
        assert s.cmd(f"AUTH PLAIN {token}").code == 235


@pytest.mark.parametrize("login", [ANN, "nobody@example.test"])
def test_wrong_password_is_535(users: ServerThread, login: str) -> None:
    """The same reply for a wrong password and an unknown account (no enumeration)."""
    with smtplib.SMTP_SSL("127.0.0.1", users.port("submissions"),
                          context=users.client_tls(), timeout=30) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
            client.login(login, "not the password")
        assert failed.value.smtp_code == 535
        assert failed.value.smtp_error.startswith(b"5.7.8 ")
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # still not logged in
            client.sendmail(ANN, [BOB], SMALL)
        assert refused.value.smtp_code == 530


# The null sender <> is no one's and is accepted (issue 12): tests/integration/
# test_smtp_null_sender.py.
@pytest.mark.parametrize("sender", [BOB, "ann@remote.test", "annx@example.test",
                                    "team@example.test"])
def test_mail_from_not_owned_is_553(users: ServerThread, sender: str) -> None:
    users.call(users.store.add_alias("team@example.test", [BOB]))  # ann is not in it
    with submission(users) as s:
        reply = s.cmd(f"MAIL FROM:<{sender}>")
        assert (reply.code, reply.enhanced) == (553, "5.7.1"), reply
        assert s.cmd(f"MAIL FROM:<{ANN}>").code == 250  # the session carries on
    assert all_inboxes_empty(users, ANN, BOB)


# -- SIZE (RFC 1870) ------------------------------------------------------------------------

def test_size_parameter_over_the_limit_is_552_at_mail(small_server: ServerThread) -> None:
    with mx(small_server) as s:
        assert f"SIZE {MAX_SIZE}" in s.cmd("EHLO client.test").lines
        reply = s.cmd(f"MAIL FROM:<peer@remote.test> SIZE={MAX_SIZE + 1}")
        assert (reply.code, reply.enhanced) == (552, "5.3.4"), reply
        assert s.cmd(f"MAIL FROM:<peer@remote.test> SIZE={MAX_SIZE}").code == 250


def test_oversized_data_without_size_is_552_after_the_end(small_server: ServerThread) -> None:
    big = b"Subject: big\r\n\r\n" + (b"y" * 78 + b"\r\n") * 80
    assert len(big) > MAX_SIZE
    with mx(small_server) as s:
        assert s.cmd("MAIL FROM:<peer@remote.test>").code == 250
        assert s.cmd(f"RCPT TO:<{ANN}>").code == 250
        assert s.cmd("DATA").code == 354
        s.send(big + b".\r\n")
        reply = s.reply()
        assert (reply.code, reply.enhanced) == (552, "5.3.4"), reply
        # the transaction is over, the session is not: a small message goes through
        assert s.cmd("RCPT TO:<ann@example.test>").code == 503
        assert s.cmd("MAIL FROM:<peer@remote.test>").code == 250
        assert s.cmd(f"RCPT TO:<{ANN}>").code == 250
        assert s.cmd("DATA").code == 354
        s.send(SMALL + b".\r\n")
        assert s.reply().code == 250
    assert [strip_trace(m) for m in small_server.inbox(ANN)] == [SMALL]


def test_oversized_bdat_is_552_and_its_octets_are_skipped(small_server: ServerThread) -> None:
    chunk = b"MAIL FROM:<evil@remote.test>\r\n" * 100  # would be commands if not skipped
    with mx(small_server) as s:
        assert s.cmd("MAIL FROM:<peer@remote.test>").code == 250
        assert s.cmd(f"RCPT TO:<{ANN}>").code == 250
        s.send(b"BDAT 2000\r\n" + chunk[:2000])
        assert s.reply().code == 250
        s.send(f"BDAT {len(chunk)} LAST\r\n".encode() + chunk)
        reply = s.reply()
        assert (reply.code, reply.enhanced) == (552, "5.3.4"), reply
        assert s.cmd("NOOP").code == 250  # nothing of the chunk was read as a command
        assert s.pending == b""
    assert small_server.inbox(ANN) == []


# -- line length (RFC 5321 4.5.3.1.4) -------------------------------------------------------

def test_command_line_too_long_is_500_and_the_session_continues(users: ServerThread) -> None:
    with mx(users) as s:
        assert s.cmd("MAIL FROM:<peer@remote.test>").code == 250
        reply = s.cmd("RCPT TO:<" + "a" * 2000 + "@example.test>")
        assert (reply.code, reply.enhanced) == (500, "5.5.2"), reply
        reply = s.cmd(b"NOOP " + b"x" * 100_000)  # far beyond any buffer
        assert (reply.code, reply.enhanced) == (500, "5.5.2"), reply
        assert s.cmd("NOOP").code == 250
        # the transaction survived the bad lines
        assert s.cmd(f"RCPT TO:<{ANN}>").code == 250
        assert s.cmd("DATA").code == 354
        s.send(SMALL + b".\r\n")
        assert s.reply().code == 250
    assert len(users.inbox(ANN)) == 1


def test_longest_allowed_line_is_accepted(users: ServerThread) -> None:
    """1000 octets with the CRLF (RFC 5321 4.5.3.1.6) is fine; one more is not."""
    with mx(users) as s:
        assert s.cmd(b"NOOP " + b"x" * (1000 - 7)).code == 250
        assert s.cmd(b"NOOP " + b"x" * (1000 - 6)).code == 500


def test_recipient_limit_is_452_4_5_3(users: ServerThread) -> None:
    """limits.max_recipients (1000): the client may send the rest in another transaction
    (RFC 5321 4.5.3.1.10); the accepted ones still get the message, once."""
    with mx(users) as s:
        assert s.cmd("MAIL FROM:<peer@remote.test>").code == 250
        s.send(b"RCPT TO:<ann@example.test>\r\n" * 1001)
        replies = [s.reply() for _ in range(1001)]
        assert {r.code for r in replies[:1000]} == {250}
        assert (replies[1000].code, replies[1000].enhanced) == (452, "4.5.3"), replies[1000]
        assert s.cmd("DATA").code == 354
        s.send(SMALL + b".\r\n")
        assert s.reply().code == 250
    assert len(users.inbox(ANN)) == 1


# -- a client that vanishes mid-message -----------------------------------------------------

@pytest.mark.parametrize("listener", ["smtp", "submissions"])
def test_disconnect_in_data_stores_nothing(users: ServerThread, listener: str) -> None:
    s = mx(users) if listener == "smtp" else submission(users)
    with s:
        assert s.cmd(f"MAIL FROM:<{ANN}>").code == 250
        assert s.cmd(f"RCPT TO:<{BOB}>").code == 250
        assert s.cmd("DATA").code == 354
        s.send(b"Subject: cut\r\n\r\nthe first half of a message\r\n")
    # the server keeps serving: a complete message after the cut one
    with smtplib.SMTP("127.0.0.1", users.port("smtp"), timeout=30) as client:
        assert client.sendmail("peer@remote.test", [BOB], SMALL) == {}
    assert [strip_trace(m) for m in users.inbox(BOB)] == [SMALL]
    assert users.inbox(ANN) == []


def test_disconnect_between_bdat_chunks_stores_nothing(users: ServerThread) -> None:
    with mx(users) as s:
        assert s.cmd("MAIL FROM:<peer@remote.test>").code == 250
        assert s.cmd(f"RCPT TO:<{BOB}>").code == 250
        s.send(b"BDAT 20\r\nSubject: cut\r\n\r\nabc\r\n")
        assert s.reply().code == 250
        s.send(b"BDAT 100 LAST\r\nonly part of the last chunk")
    with smtplib.SMTP("127.0.0.1", users.port("smtp"), timeout=30) as client:
        assert client.sendmail("peer@remote.test", [BOB], SMALL) == {}
    assert [strip_trace(m) for m in users.inbox(BOB)] == [SMALL]


# -- quota (RFC 3463 X.2.2) -----------------------------------------------------------------

def test_recipient_over_quota_is_452_at_rcpt(users: ServerThread) -> None:
    deliver(users, BOB, [b"Subject: old\r\n\r\n" + b"z" * 2000 + b"\r\n"])
    users.call(users.store.set_user_options(BOB, quota_bytes=1000))
    with mx(users) as s:
        assert s.cmd("MAIL FROM:<peer@remote.test>").code == 250
        reply = s.cmd(f"RCPT TO:<{BOB}>")
        assert (reply.code, reply.enhanced) == (452, "4.2.2"), reply
        assert s.cmd(f"RCPT TO:<{ANN}>").code == 250
        assert s.cmd("DATA").code == 354
        s.send(SMALL + b".\r\n")
        assert s.reply().code == 250
    assert len(users.inbox(BOB)) == 1
    assert len(users.inbox(ANN)) == 1


def test_recipient_exactly_at_quota_is_452_at_rcpt(users: ServerThread) -> None:
    """A mailbox at its quota cannot take any message: refuse it at RCPT (4.2.2), not only
    after the whole message was sent."""
    deliver(users, BOB, [b"Subject: old\r\n\r\nold\r\n"])
    used, _count = users.call(users.store.quota_usage(users.call(users.store.get_user(BOB)).id))
    users.call(users.store.set_user_options(BOB, quota_bytes=used))
    with submission(users) as s:
        assert s.cmd(f"MAIL FROM:<{ANN}>").code == 250
        reply = s.cmd(f"RCPT TO:<{BOB}>")
        assert (reply.code, reply.enhanced) == (452, "4.2.2"), reply


def test_size_parameter_beyond_quota_is_452_at_rcpt(users: ServerThread) -> None:
    users.call(users.store.set_user_options(BOB, quota_bytes=5000))
    with mx(users) as s:
        assert s.cmd("MAIL FROM:<peer@remote.test> SIZE=6000").code == 250
        reply = s.cmd(f"RCPT TO:<{BOB}>")
        assert (reply.code, reply.enhanced) == (452, "4.2.2"), reply


def test_message_beyond_remaining_quota_is_552_at_data(users: ServerThread) -> None:
    users.call(users.store.set_user_options(BOB, quota_bytes=3000))
    big = b"Subject: big\r\n\r\n" + (b"q" * 98 + b"\r\n") * 40
    with mx(users) as s:
        assert s.cmd("MAIL FROM:<peer@remote.test>").code == 250
        assert s.cmd(f"RCPT TO:<{BOB}>").code == 250  # no SIZE: it cannot know yet
        assert s.cmd("DATA").code == 354
        s.send(big + b".\r\n")
        reply = s.reply()
        assert (reply.code, reply.enhanced) == (552, "5.2.2"), reply
        assert s.cmd("NOOP").code == 250
    assert users.inbox(BOB) == []


def test_one_recipient_over_quota_at_data_does_not_fail_the_others(users: ServerThread) -> None:
    """After DATA there is one reply for all (RFC 5321 4.2.5): the recipients within quota get
    the message, the sender gets a failure DSN (5.2.2) for the one whose mailbox is full."""
    users.call(users.store.set_user_options(BOB, quota_bytes=3000))
    big = b"Subject: big\r\n\r\n" + (b"q" * 98 + b"\r\n") * 40
    with smtplib.SMTP("127.0.0.1", users.port("submission"), timeout=30) as client:
        client.starttls(context=users.client_tls())
        client.login(ANN, PASSWORD)
        client.mail(ANN)
        assert client.rcpt(ANN)[0] == 250
        assert client.rcpt(BOB)[0] == 250
        code, _text = client.data(big)
    assert code == 250
    inbox = users.inbox(ANN)
    assert len(inbox) == 2  # the message and the notice about bob
    notice = next(m for m in inbox if b"multipart/report" in m)
    assert f"Final-Recipient: rfc822;{BOB}".encode() in notice
    assert b"Status: 5.2.2" in notice
    assert users.inbox(BOB) == []
