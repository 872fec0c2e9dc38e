"""STARTTLS command injection (RFC 3207 4.2; CVE-2011-0411 and its many relatives).

Plaintext pipelined after STARTTLS, in the same TCP write, must be thrown away: after the
handshake the server knows nothing from before (no EHLO, no MAIL), and never answers the
injected commands, neither before nor after the handshake.
"""

from __future__ import annotations

import base64

import pytest

from tests.support.server import PASSWORD, ServerThread
from tests.support.smtp_wire import RawSmtp

ANN, BOB = "ann@example.test", "bob@example.test"


# The server must log no ERROR during any test of this module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("no_server_errors")


def inject(server: ServerThread, listener: str, injected: bytes) -> RawSmtp:
    """EHLO, STARTTLS and ``injected`` in one write; returns the session after the handshake
    (the injected bytes were never answered in plaintext)."""
    s = RawSmtp(server.port(listener))
    assert s.reply().code == 220
    s.send(b"EHLO x\r\nSTARTTLS\r\n" + injected)
    assert s.reply().code == 250
    assert s.reply().code == 220
    s.starttls(server.client_tls())  # fails if any plaintext reply followed the 220
    return s


@pytest.mark.parametrize("listener", ["smtp", "submission"])
def test_injected_mail_is_not_executed(users: ServerThread, listener: str) -> None:
    with inject(users, listener, b"MAIL FROM:<a@b>\r\n") as s:
        ehlo = s.cmd("EHLO x")
        assert ehlo.code == 250  # the first reply inside TLS answers our EHLO
        if listener == "submission":
            assert s.login(ANN).code == 235
        reply = s.cmd(f"RCPT TO:<{BOB}>")
        assert (reply.code, reply.enhanced) == (503, "5.5.1"), reply  # no MAIL in force
        assert s.cmd("NOOP").code == 250
    assert users.inbox(BOB) == []


@pytest.mark.parametrize("listener", ["smtp", "submission"])
def test_injected_whole_transaction_is_not_executed(users: ServerThread, listener: str) -> None:
    token = base64.b64encode(f"\0{ANN}\0{PASSWORD}".encode())
    injected = (b"AUTH PLAIN " + token + b"\r\nMAIL FROM:<ann@example.test>\r\n"
                b"RCPT TO:<bob@example.test>\r\nDATA\r\nSubject: injected\r\n\r\nx\r\n.\r\n")
    with inject(users, listener, injected) as s:
        # right after the handshake the server is back to "no EHLO yet"
        reply = s.cmd(f"MAIL FROM:<{ANN}>")
        assert (reply.code, reply.text) == (503, "Send HELO/EHLO first"), reply
        ehlo = s.cmd("EHLO x")
        assert ehlo.code == 250
        assert "STARTTLS" not in ehlo.lines
        if listener == "submission":  # the injected AUTH did not log anyone in
            reply = s.cmd(f"MAIL FROM:<{ANN}>")
            assert (reply.code, reply.enhanced) == (530, "5.7.0"), reply
    assert users.inbox(BOB) == []


def test_injection_split_over_two_writes_before_the_handshake(users: ServerThread) -> None:
    """Bytes sent after STARTTLS but before reading the 220 are gone too: they were either
    buffered (dropped at the boundary) or arrive before the ClientHello (the handshake
    fails, which is just as safe). Either way nothing is executed."""
    s = RawSmtp(users.port("smtp"))
    with s:
        assert s.reply().code == 220
        s.send(b"EHLO x\r\nSTARTTLS\r\n")
        s.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<bob@example.test>\r\n")
        assert s.reply().code == 250
        assert s.reply().code == 220
        try:
            s.starttls(users.client_tls())
        except (OSError, AssertionError):
            pass  # the handshake may fail on the stray bytes; that is safe
        else:
            assert s.cmd("EHLO x").code == 250
            assert s.cmd("DATA").code == 503
    assert users.inbox(BOB) == []


def test_starttls_only_once(users: ServerThread) -> None:
    with inject(users, "smtp", b"") as s:
        s.cmd("EHLO x")
        reply = s.cmd("STARTTLS")
        assert (reply.code, reply.enhanced) == (503, "5.5.1"), reply
