"""Byte-exact replies: status lines, response codes, CAPA, RETR/TOP with dot-stuffing."""

from __future__ import annotations

import pytest

from posthouse.pop3 import Err, Ok, Pop3Config, Pop3Connection, Pop3State, RespCode, replies
from posthouse.pop3.capabilities import capabilities
from posthouse.pop3.replies import render, top_part
from posthouse.wire.transparency import dot_stuff
from tests.unit.test_pop3_connection import events, logged_in

MESSAGE = (
    b"From: a@example.org\r\n"
    b"Subject: dots\r\n"
    b"\r\n"
    b"line 1\r\n"
    b".line 2 starts with a dot\r\n"
    b"..two dots\r\n"
    b".\r\n"
    b"last line without CRLF"
)


def retr(data: bytes, line: bytes = b"RETR 1") -> bytes:
    conn = logged_in()
    events(conn, line + b"\r\n")
    return conn.send_message(data)


def test_retr_dot_stuffs_and_terminates() -> None:
    assert retr(MESSAGE) == (
        b"+OK 110 octets\r\n"
        b"From: a@example.org\r\n"
        b"Subject: dots\r\n"
        b"\r\n"
        b"line 1\r\n"
        b"..line 2 starts with a dot\r\n"
        b"...two dots\r\n"
        b"..\r\n"
        b"last line without CRLF\r\n"
        b".\r\n"
    )
    assert len(MESSAGE) == 110


def test_retr_message_ending_in_crlf_gets_no_extra_line() -> None:
    out = retr(b"Subject: x\r\n\r\nbody\r\n")
    assert out == b"+OK 20 octets\r\nSubject: x\r\n\r\nbody\r\n.\r\n"


def test_retr_leading_dot_on_first_line_and_empty_message() -> None:
    assert retr(b".\r\n") == b"+OK 3 octets\r\n..\r\n.\r\n"
    assert retr(b"") == b"+OK 0 octets\r\n.\r\n"


def test_dot_after_bare_lf_is_stuffed_too() -> None:
    assert dot_stuff(b"a\n.b\r\n") == b"a\n..b\r\n.\r\n"


@pytest.mark.parametrize(
    ("lines", "expected_body"),
    [
        (0, b""),
        (1, b"line 1\r\n"),
        (2, b"line 1\r\n..line 2 starts with a dot\r\n"),
        (4, b"line 1\r\n..line 2 starts with a dot\r\n...two dots\r\n..\r\n"),
        (5, b"line 1\r\n..line 2 starts with a dot\r\n...two dots\r\n..\r\n"
            b"last line without CRLF\r\n"),
        (10**9, b"line 1\r\n..line 2 starts with a dot\r\n...two dots\r\n..\r\n"
                b"last line without CRLF\r\n"),
    ],
)
def test_top(lines: int, expected_body: bytes) -> None:
    out = retr(MESSAGE, b"TOP 1 %d" % lines)
    assert out == (
        b"+OK top of message follows\r\n"
        b"From: a@example.org\r\nSubject: dots\r\n\r\n" + expected_body + b".\r\n"
    )


@pytest.mark.parametrize(
    ("message", "lines", "part"),
    [
        (b"Subject: x\r\n", 3, b"Subject: x\r\n"),  # no body at all
        (b"Subject: x", 3, b"Subject: x"),
        (b"\r\nbody\r\nmore\r\n", 1, b"\r\nbody\r\n"),  # no header fields
        (b"\r\n\r\nbody\r\n", 1, b"\r\n\r\n"),  # first body line is empty
        (b"A: b\r\n\r\n", 2, b"A: b\r\n\r\n"),
    ],
)
def test_top_part_edges(message: bytes, lines: int, part: bytes) -> None:
    assert top_part(message, lines) == part


@pytest.mark.parametrize(
    ("reply", "wire"),
    [
        (Ok(), b"+OK\r\n"),
        (Ok("fine"), b"+OK fine\r\n"),
        (Err("no"), b"-ERR no\r\n"),
        (Err("locked", RespCode.IN_USE), b"-ERR [IN-USE] locked\r\n"),
        (Err("wait", RespCode.LOGIN_DELAY), b"-ERR [LOGIN-DELAY] wait\r\n"),
        (Err("later", RespCode.SYS_TEMP), b"-ERR [SYS/TEMP] later\r\n"),
        (Err("broken", RespCode.SYS_PERM), b"-ERR [SYS/PERM] broken\r\n"),
        (Err("bad", RespCode.AUTH), b"-ERR [AUTH] bad\r\n"),
        (Err("utf8 needed", RespCode.UTF8), b"-ERR [UTF8] utf8 needed\r\n"),
        (Err("two\r\nlines"), b"-ERR two  lines\r\n"),  # never a second line
        (Ok("list", (b"a", b".b", b"")), b"+OK list\r\na\r\n..b\r\n\r\n.\r\n"),
        (Ok("empty", ()), b"+OK empty\r\n.\r\n"),
    ],
)
def test_render(reply: Ok | Err, wire: bytes) -> None:
    assert render(reply) == wire


def tags(config: Pop3Config, *, state: Pop3State = Pop3State.AUTHORIZATION) -> list[bytes]:
    conn = Pop3Connection(config)
    body = capabilities(config, state=state, tls_active=conn.tls_active,
                        mechanisms=conn.sasl_mechanisms).lines
    assert body is not None
    return list(body)


def test_capa_plaintext_port_without_tls() -> None:
    assert tags(Pop3Config(tls_available=True)) == [
        b"TOP", b"UIDL", b"RESP-CODES", b"AUTH-RESP-CODE", b"PIPELINING", b"EXPIRE NEVER",
        b"UTF8", b"STLS", b"IMPLEMENTATION posthouse",
    ]


def test_capa_implicit_tls_with_scram_and_login_delay() -> None:
    config = Pop3Config(tls_active=True, scram=True, login_delay=0, implementation="ph")
    assert tags(config) == [
        b"TOP", b"UIDL", b"USER", b"SASL SCRAM-SHA-256 PLAIN LOGIN", b"RESP-CODES",
        b"AUTH-RESP-CODE", b"PIPELINING", b"EXPIRE NEVER", b"LOGIN-DELAY 0", b"UTF8 USER",
        b"IMPLEMENTATION ph",
    ]


def test_uidl_values_follow_rfc1939() -> None:
    conn = logged_in(maildrop=[(1, 5), (4294967295, 7)])
    out = b"".join(e.data for e in events(conn, b"UIDL\r\n"))  # type: ignore[attr-defined]
    for line in out.split(b"\r\n")[1:-2]:
        uid = line.split(b" ", 1)[1]
        assert 1 <= len(uid) <= 70
        assert all(0x21 <= ch <= 0x7E for ch in uid)
    assert out == b"+OK unique-id listing follows\r\n1 1234.1\r\n2 1234.4294967295\r\n.\r\n"


def test_standard_replies_of_the_adapter() -> None:
    assert [render(r) for r in (
        replies.invalid_credentials(), replies.unsupported_mechanism(),
        replies.auth_ended("cancelled"), replies.maildrop_locked(),
        replies.maildrop_unavailable(), replies.message_removed(), replies.update_failed(),
        replies.signed_off(2),
    )] == [
        b"-ERR [AUTH] invalid credentials\r\n",
        b"-ERR unsupported mechanism\r\n",
        b"-ERR authentication cancelled\r\n",
        b"-ERR [IN-USE] maildrop already locked\r\n",
        b"-ERR [SYS/TEMP] cannot open maildrop\r\n",
        b"-ERR [SYS/PERM] message was removed from the server\r\n",
        b"-ERR [SYS/TEMP] could not remove messages\r\n",
        b"+OK bye (2 removed)\r\n",
    ]
