"""Session commands over real sockets: EHLO capability lists per listener, VRFY, HELP, NOOP,
RSET, QUIT, the Received trace per protocol (RFC 3848), PIPELINING (RFC 2920) and CHUNKING /
BINARYMIME (RFC 3030) in raw bytes.
"""

from __future__ import annotations

import re
import smtplib

import pytest

from tests.support.server import ServerThread
from tests.support.smtp_wire import RawSmtp, strip_trace, trace_fields

ANN, BOB = "ann@example.test", "bob@example.test"
MSG = b"Subject: hello\r\nFrom: peer@remote.test\r\n\r\nhello\r\n"
AUTH = "AUTH SCRAM-SHA-256 PLAIN LOGIN"  # SCRAM first (RFC 7677), never -PLUS
COMMON = ["SIZE 52428800", "PIPELINING", "8BITMIME", "SMTPUTF8", "CHUNKING", "BINARYMIME",
          "DSN", "ENHANCEDSTATUSCODES"]


# The server must log no ERROR during any test of this module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("no_server_errors")


def greeted(server: ServerThread, listener: str = "smtp") -> RawSmtp:
    tls = server.client_tls() if listener == "submissions" else None
    s = RawSmtp(server.port(listener), tls=tls)
    greeting = s.reply()
    assert greeting.code == 220
    assert greeting.text.startswith("mx.example.test ")
    return s


def keywords(s: RawSmtp) -> list[str]:
    reply = s.cmd("EHLO client.test")
    assert reply.code == 250
    assert reply.lines[0] == "mx.example.test"
    return list(reply.lines[1:])


# -- EHLO (RFC 5321 4.1.1.1, RFC 3207 4.2, RFC 4954 4) -------------------------------------

@pytest.mark.parametrize(("listener", "plain", "after_tls"), [
    ("smtp", [*COMMON, "STARTTLS"], [*COMMON, "REQUIRETLS"]),  # RFC 8689 4.1: after TLS
    ("submission", [*COMMON, "STARTTLS"], [*COMMON, "REQUIRETLS", AUTH]),
])
def test_ehlo_keywords_before_and_after_starttls(users: ServerThread, listener: str,
                                                 plain: list[str],
                                                 after_tls: list[str]) -> None:
    with greeted(users, listener) as s:
        assert keywords(s) == plain
        assert s.cmd("STARTTLS").code == 220
        s.starttls(users.client_tls())
        assert keywords(s) == after_tls  # no STARTTLS twice; AUTH only now, only on 587


def test_ehlo_keywords_on_465(users: ServerThread) -> None:
    with greeted(users, "submissions") as s:
        assert keywords(s) == [*COMMON, "REQUIRETLS", AUTH]
        reply = s.cmd("STARTTLS")
        assert (reply.code, reply.enhanced) == (503, "5.5.1"), reply


def test_loopback_plaintext_allowed_offers_auth_before_tls(loopback_server: ServerThread) -> None:
    loopback_server.add_user(ANN)
    with greeted(loopback_server, "submission") as s:
        assert keywords(s) == [*COMMON, "STARTTLS", AUTH]
        assert s.login(ANN).code == 235
        assert s.cmd(f"MAIL FROM:<{ANN}>").code == 250


def test_helo_gets_one_line_and_no_extensions(users: ServerThread) -> None:
    with greeted(users) as s:
        reply = s.cmd("HELO client.test")
        assert (reply.code, reply.lines) == (250, ("mx.example.test",))
        reply = s.cmd("MAIL FROM:<peer@remote.test> SIZE=10")  # no ESMTP after HELO
        assert reply.code == 555
        assert reply.enhanced == ""  # no enhanced codes without EHLO (RFC 2034)
        assert s.cmd("STARTTLS").code == 503


# -- VRFY, EXPN, HELP, NOOP, RSET, QUIT -----------------------------------------------------

def test_vrfy_is_252_whoever_is_asked(users: ServerThread) -> None:
    """RFC 5321 3.5.3: 252 and no enumeration: known and unknown users get the same reply."""
    with greeted(users) as s:
        s.cmd("EHLO client.test")
        got = {s.cmd(f"VRFY {who}") for who in
               (ANN, "nobody@example.test", "ann", "someone@remote.test", "<bob@example.test>")}
    (reply,) = got
    assert (reply.code, reply.enhanced) == (252, "2.1.5"), reply


def test_expn_help_noop(users: ServerThread) -> None:
    with greeted(users) as s:
        s.cmd("EHLO client.test")
        assert s.cmd("EXPN team").code == 502
        help_reply = s.cmd("HELP")
        assert (help_reply.code, help_reply.enhanced) == (214, "2.0.0")
        assert s.cmd("HELP MAIL").code == 214
        assert (s.cmd("NOOP").code, s.cmd("NOOP anything").code) == (250, 250)


def test_rset_forgets_the_transaction(users: ServerThread) -> None:
    with greeted(users) as s:
        s.cmd("EHLO client.test")
        assert s.cmd("MAIL FROM:<first@remote.test>").code == 250
        assert s.cmd(f"RCPT TO:<{ANN}>").code == 250
        assert s.cmd("RSET").code == 250
        assert s.cmd("DATA").code == 503  # no transaction any more
        assert s.cmd(f"RCPT TO:<{ANN}>").code == 503
        assert s.cmd("RSET").code == 250  # RSET with no transaction is fine too
        assert s.cmd("MAIL FROM:<second@remote.test>").code == 250
        assert s.cmd(f"RCPT TO:<{BOB}>").code == 250
        assert s.cmd("DATA").code == 354
        s.send(MSG + b".\r\n")
        assert s.reply().code == 250
    assert users.inbox(ANN) == []
    (stored,) = users.inbox(BOB)
    assert stored.startswith(b"Return-Path: <second@remote.test>\r\n")


def test_ehlo_again_resets_the_transaction(users: ServerThread) -> None:
    with greeted(users) as s:
        s.cmd("EHLO client.test")
        assert s.cmd("MAIL FROM:<peer@remote.test>").code == 250
        s.cmd("EHLO client.test")
        assert s.cmd(f"RCPT TO:<{ANN}>").code == 503


def test_quit_closes(users: ServerThread) -> None:
    with greeted(users) as s:
        reply = s.cmd("QUIT")
        assert (reply.code, reply.enhanced) == (221, "")  # before EHLO: no enhanced code
        assert s.eof()


def test_commands_out_of_order_are_503(users: ServerThread) -> None:
    with greeted(users) as s:
        assert s.cmd("MAIL FROM:<peer@remote.test>").code == 503  # before EHLO
        s.cmd("EHLO client.test")
        for command in (f"RCPT TO:<{ANN}>", "DATA", "BDAT 0 LAST"):
            reply = s.cmd(command)
            assert (reply.code, reply.enhanced) == (503, "5.5.1"), (command, reply)
        assert s.cmd("BOGUS").code == 500


# -- Received: RFC 3848 protocol names and the TLS version ----------------------------------

def test_received_names_smtp_esmtp_esmtps(users: ServerThread) -> None:
    with smtplib.SMTP("127.0.0.1", users.port("smtp"), timeout=30) as client:
        client.helo("old.client.test")
        client.sendmail("a@remote.test", [ANN], MSG)
    with smtplib.SMTP("127.0.0.1", users.port("smtp"), timeout=30) as client:
        client.sendmail("b@remote.test", [ANN], MSG)
    with smtplib.SMTP("127.0.0.1", users.port("smtp"), timeout=30) as client:
        client.starttls(context=users.client_tls())
        client.sendmail("c@remote.test", [ANN, BOB], MSG)
    traces = [trace_fields(m).decode() for m in users.inbox(ANN)]
    assert "from old.client.test ([127.0.0.1])" in traces[0]
    assert " with SMTP id " in traces[0]
    assert " with ESMTP id " in traces[1]
    assert "using" not in traces[0] + traces[1]
    assert " with ESMTPS id " in traces[2]
    assert re.search(r"\(using TLSv1\.[23] ", traces[2])
    assert "for <" not in traces[2]  # several recipients: none named (privacy)
    assert all(strip_trace(m) == MSG for m in users.inbox(ANN))


def test_control_characters_in_a_command_are_refused(users: ServerThread) -> None:
    """Nothing with controls can reach a Received field from EHLO."""
    with greeted(users) as s:
        reply = s.cmd("EHLO bad\x01name\x7f.test")
        assert reply.code == 500, reply
        assert s.cmd("MAIL FROM:<peer@remote.test>").code == 503  # not greeted


# -- PIPELINING (RFC 2920) ------------------------------------------------------------------

def test_pipelined_transactions_in_one_write(users: ServerThread) -> None:
    """Two transactions and QUIT in one packet: every reply, in order, nothing lost."""
    batch = (b"EHLO client.test\r\nMAIL FROM:<p@remote.test>\r\nRCPT TO:<ann@example.test>\r\n"
             b"RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
    with greeted(users) as s:
        s.send(batch)
        codes = [s.reply().code for _ in range(6)]
        assert codes == [250, 250, 250, 550, 250, 354]
        s.send(MSG + b".\r\nMAIL FROM:<q@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
               b"BDAT " + str(len(MSG)).encode() + b" LAST\r\n" + MSG + b"QUIT\r\n")
        codes = [s.reply().code for _ in range(5)]
        assert codes == [250, 250, 250, 250, 221]
        assert s.eof()
    assert [strip_trace(m) for m in users.inbox(ANN)] == [MSG]
    assert [strip_trace(m) for m in users.inbox(BOB)] == [MSG, MSG]


def test_pipelined_data_after_all_rcpts_refused(users: ServerThread) -> None:
    """RFC 2920 3.1: DATA after no accepted RCPT fails, and the content that follows is then
    read as commands; the client sees the refusals in order."""
    with greeted(users) as s:
        s.cmd("EHLO client.test")
        s.send(b"MAIL FROM:<p@remote.test>\r\nRCPT TO:<x@remote.test>\r\nDATA\r\n")
        assert [s.reply().code for _ in range(3)] == [250, 554, 554]
        assert s.cmd("NOOP").code == 250
    assert users.call(users.store.list_queue()) == []


# -- CHUNKING, BINARYMIME (RFC 3030) --------------------------------------------------------

def test_bdat_chunks_are_joined_exactly(users: ServerThread) -> None:
    parts = [b"Subject: chunks\r\n", b"\r\n", b".not stuffed\r\n.\r\n", b"end\r\n"]
    with greeted(users) as s:
        s.cmd("EHLO client.test")
        assert s.cmd("MAIL FROM:<p@remote.test>").code == 250
        assert s.cmd(f"RCPT TO:<{ANN}>").code == 250
        for part in parts[:-1]:
            s.send(b"BDAT %d\r\n" % len(part) + part)
            reply = s.reply()
            assert (reply.code, reply.enhanced) == (250, "2.0.0"), reply
        s.send(b"BDAT %d LAST\r\n" % len(parts[-1]) + parts[-1])
        assert s.reply().code == 250
        assert s.cmd("BDAT 0 LAST").code == 503  # the transaction is over
    (stored,) = users.inbox(ANN)
    assert strip_trace(stored) == b"".join(parts)  # no dot handling in BDAT


def test_bdat_zero_length_last_chunk_ends_the_message(users: ServerThread) -> None:
    with greeted(users) as s:
        s.cmd("EHLO client.test")
        s.cmd("MAIL FROM:<p@remote.test>")
        s.cmd(f"RCPT TO:<{ANN}>")
        s.send(b"BDAT %d\r\n" % len(MSG) + MSG)
        assert s.reply().code == 250
        assert s.cmd("BDAT 0 LAST").code == 250
    assert [strip_trace(m) for m in users.inbox(ANN)] == [MSG]


def test_binarymime_is_stored_byte_exact(users: ServerThread) -> None:
    body = bytes(range(256)) + b"\n\r\x00 bare line ends kept\r\n"
    msg = (b"Subject: binary\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Transfer-Encoding: binary\r\n\r\n" + body)
    with greeted(users) as s:
        s.cmd("EHLO client.test")
        assert s.cmd("MAIL FROM:<p@remote.test> BODY=BINARYMIME").code == 250
        assert s.cmd(f"RCPT TO:<{ANN}>").code == 250
        assert s.cmd("DATA").code == 503  # BINARYMIME needs BDAT
        s.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
        assert s.reply().code == 250
    assert [strip_trace(m) for m in users.inbox(ANN)] == [msg]


def test_bdat_without_binarymime_gets_crlf_line_ends(users: ServerThread) -> None:
    with greeted(users) as s:
        s.cmd("EHLO client.test")
        s.cmd("MAIL FROM:<p@remote.test>")
        s.cmd(f"RCPT TO:<{ANN}>")
        msg = b"Subject: lf\n\nline one\nline two\r\n"
        s.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
        assert s.reply().code == 250
    assert [strip_trace(m) for m in users.inbox(ANN)] == [
        b"Subject: lf\r\n\r\nline one\r\nline two\r\n"]


# -- 8BITMIME and SMTPUTF8 on port 25 -------------------------------------------------------

def test_utf8_local_part_needs_smtputf8(users: ServerThread) -> None:
    users.add_user("jösé@example.test")
    msg = "Subject: Grüße\r\nFrom: Zoë <zoë@remote.test>\r\n\r\nÄ ö ü\r\n".encode()
    with greeted(users) as s:
        s.cmd("EHLO client.test")
        reply = s.cmd("MAIL FROM:<zoë@remote.test>")
        assert (reply.code, reply.enhanced) == (553, "5.6.7"), reply
        assert s.cmd("MAIL FROM:<zoë@remote.test> SMTPUTF8 BODY=8BITMIME").code == 250
        assert s.cmd("RCPT TO:<JÖSÉ@example.test>").code == 250
        assert s.cmd("DATA").code == 354
        s.send(msg + b".\r\n")
        assert s.reply().code == 250
    (stored,) = users.inbox("jösé@example.test")
    assert strip_trace(stored) == msg
    assert stored.startswith("Return-Path: <zoë@remote.test>\r\n".encode())
