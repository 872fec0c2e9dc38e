"""SMTP smuggling, end to end over a real socket (CVE-2023-51764/51765/51766 class).

A message whose content hides a second transaction behind an end-of-data marker written with
bare line ends (``\\n.\\n``, ``\\r.\\r``, ``\\n.\\r\\n``, ``\\r\\n.\\n``) must never turn into two
messages: only ``<CRLF>.<CRLF>`` ends DATA (RFC 5321 4.1.1.4), the smuggled MAIL/RCPT/DATA are
never executed, and the message as a whole is refused because of its bare CR / LF.
"""

from __future__ import annotations

import pytest

from tests.support.server import ServerThread
from tests.support.smtp_wire import RawSmtp

ANN, BOB, EVE = "ann@example.test", "bob@example.test", "eve@example.test"
USERS = (ANN, BOB, EVE)

MARKERS = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r\n.\r", b"\r.\r\n", b"\n..\n"]
IDS = ["LF.LF", "CR.CR", "LF.CRLF", "CRLF.LF", "CRLF.CR", "CR.CRLF", "LF..LF"]


# The server must log no ERROR during any test of this module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("no_server_errors")


@pytest.fixture
def users(server: ServerThread) -> ServerThread:
    for user in USERS:
        server.add_user(user)
    return server


def smuggled(marker: bytes) -> bytes:
    """The first message's content up to and including the real end marker, with a whole
    second transaction (to eve, from a forged sender) hidden behind ``marker``."""
    return (b"From: ann@example.test\r\nTo: bob@example.test\r\nSubject: innocent\r\n\r\n"
            b"hello bob" + marker +
            b"MAIL FROM:<admin@example.test>\r\nRCPT TO:<eve@example.test>\r\nDATA\r\n"
            b"From: admin@example.test\r\nSubject: smuggled\r\n\r\nforged\r\n"
            b".\r\n")


def no_mail_anywhere(server: ServerThread) -> bool:
    return all(server.inbox(u) == [] for u in USERS) and server.call(
        server.store.list_queue()) == []


@pytest.mark.parametrize("marker", MARKERS, ids=IDS)
def test_smuggled_transaction_on_25_is_not_executed(users: ServerThread, marker: bytes) -> None:
    with RawSmtp(users.port("smtp")) as s:
        assert s.reply().code == 220
        assert s.cmd("EHLO attacker.test").code == 250
        # PIPELINING: the whole attack in one write, as an attacker would send it
        s.send(b"MAIL FROM:<ann@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
               + smuggled(marker) + b"NOOP\r\n")
        assert [s.reply().code for _ in range(3)] == [250, 250, 354]
        verdict = s.reply()
        assert (verdict.code, verdict.enhanced) == (550, "5.6.0"), verdict
        # the very next reply answers our NOOP: no reply was ever given to a smuggled command
        assert s.reply().code == 250
        assert s.cmd("QUIT").code == 221
    assert no_mail_anywhere(users)


@pytest.mark.parametrize("marker", MARKERS, ids=IDS)
def test_smuggled_transaction_on_submission_is_not_executed(users: ServerThread,
                                                           marker: bytes) -> None:
    with RawSmtp(users.port("submissions"), tls=users.client_tls()) as s:
        assert s.reply().code == 220
        assert s.cmd("EHLO attacker.test").code == 250
        assert s.login(ANN).code == 235
        assert s.cmd(f"MAIL FROM:<{ANN}>").code == 250
        assert s.cmd(f"RCPT TO:<{BOB}>").code == 250
        assert s.cmd("DATA").code == 354
        s.send(smuggled(marker))
        verdict = s.reply()
        assert (verdict.code, verdict.enhanced) == (550, "5.6.0"), verdict
        assert s.cmd("NOOP").code == 250
    assert no_mail_anywhere(users)


@pytest.mark.parametrize("marker", [b"\n.\n", b"\r\n.\n"], ids=["LF.LF", "CRLF.LF"])
def test_bare_marker_split_across_writes_is_still_content(users: ServerThread,
                                                          marker: bytes) -> None:
    """The marker arriving byte by byte changes nothing (the reader carries partial ends)."""
    data = smuggled(marker)
    with RawSmtp(users.port("smtp")) as s:
        assert s.reply().code == 220
        s.cmd("EHLO attacker.test")
        s.cmd(f"MAIL FROM:<{ANN}>")
        s.cmd(f"RCPT TO:<{BOB}>")
        assert s.cmd("DATA").code == 354
        cut = data.index(marker)
        s.send(data[:cut])
        for i in range(len(marker)):
            s.send(marker[i:i + 1])
        s.send(data[cut + len(marker):])
        assert s.reply().code == 550
    assert no_mail_anywhere(users)


def test_clean_message_with_dot_lines_still_goes_through(users: ServerThread) -> None:
    """The control case: CRLF-only content with dot-stuffed lines is accepted once."""
    with RawSmtp(users.port("smtp")) as s:
        assert s.reply().code == 220
        s.cmd("EHLO client.test")
        s.cmd(f"MAIL FROM:<{ANN}>")
        s.cmd(f"RCPT TO:<{BOB}>")
        assert s.cmd("DATA").code == 354
        s.send(b"Subject: fine\r\n\r\n..\r\n..MAIL FROM:<x@y>\r\nend\r\n.\r\n")
        assert s.reply().code == 250
    (stored,) = users.inbox(BOB)
    assert stored.endswith(b"\r\n\r\n.\r\n.MAIL FROM:<x@y>\r\nend\r\n")
    assert users.inbox(EVE) == []
