"""POP3 session flows: login, SASL, STLS, transaction commands, QUIT/commit, limits.

The small driver helpers here are reused by the other test_pop3_* modules.
"""

from __future__ import annotations

import base64

import pytest

from posthouse import sasl
from posthouse.pop3 import (
    AuthResponse,
    AuthStart,
    Commit,
    Err,
    Ok,
    Pass,
    Pop3Config,
    Pop3Connection,
    Pop3Event,
    Pop3State,
    Request,
    RespCode,
    Retr,
    Stls,
    Top,
    UserAccepted,
    Utf8,
    Write,
)
from posthouse.wire import LocalProtocolError
from posthouse.wire.events import NEED_DATA, Closed, NeedData

MAILDROP = [(10, 100), (11, 200), (12, 300)]
UIDVALIDITY = 1234
PLAIN_CONFIG = Pop3Config(allow_plaintext=True, tls_available=True)


def events(conn: Pop3Connection, data: bytes = b"") -> list[Pop3Event]:
    """Feed ``data`` and collect events up to NEED_DATA, a Request or Closed (inclusive)."""
    if data:
        conn.receive_data(data)
    out: list[Pop3Event] = []
    while True:
        event = conn.next_event()
        if isinstance(event, NeedData):
            return out
        out.append(event)
        if isinstance(event, (Request, Closed)):
            return out


def written(conn: Pop3Connection, data: bytes = b"") -> bytes:
    """Feed ``data``; the bytes of the core's own replies (no Request may appear)."""
    got = events(conn, data)
    assert all(isinstance(e, (Write, UserAccepted, Utf8, Closed)) for e in got), got
    return b"".join(e.data for e in got if isinstance(e, Write))


def logged_in(
    config: Pop3Config = PLAIN_CONFIG, maildrop: list[tuple[int, int]] | None = None
) -> Pop3Connection:
    conn = Pop3Connection(config)
    got = events(conn, b"USER alice@example.org\r\nPASS secret\r\n")
    assert isinstance(got[-1], Pass)
    conn.login_succeeded(MAILDROP if maildrop is None else maildrop, uidvalidity=UIDVALIDITY)
    assert conn.state is Pop3State.TRANSACTION
    return conn


def sasl_reply(conn: Pop3Connection, mech: sasl.Mechanism, data: bytes | None) -> bytes:
    """Answer the pending AuthStart/AuthResponse like an adapter would (password "pw")."""
    result = mech.step(data)
    if isinstance(result, sasl.Challenge):
        return conn.auth_challenge(result)
    if isinstance(result, sasl.Credentials) and result.password == "pw":
        return conn.login_succeeded(MAILDROP, uidvalidity=UIDVALIDITY)
    if isinstance(result, sasl.Failure):
        return conn.send(Err(result.detail))
    return conn.send(Err("authentication failed", RespCode.AUTH))


# --- USER / PASS ---------------------------------------------------------------------------


def test_user_pass_success() -> None:
    conn = Pop3Connection(PLAIN_CONFIG)
    assert conn.greeting() == b"+OK POP3 server ready\r\n"
    got = events(conn, b"USER alice@example.org\r\nPASS pass word \r\n")
    assert got == [Write(b"+OK send PASS\r\n"), UserAccepted("alice@example.org"),
                   Pass("alice@example.org", "pass word ")]
    assert conn.login_succeeded(MAILDROP, uidvalidity=1) == (
        b"+OK maildrop has 3 messages (600 octets)\r\n"
    )
    assert conn.state is Pop3State.TRANSACTION


def test_failed_login_stays_in_authorization() -> None:
    conn = Pop3Connection(PLAIN_CONFIG)
    events(conn, b"USER a@x.org\r\nPASS bad\r\n")
    assert conn.send(Err("invalid credentials", RespCode.AUTH)) == (
        b"-ERR [AUTH] invalid credentials\r\n"
    )
    assert conn.state is Pop3State.AUTHORIZATION
    # The user name is gone: PASS alone is refused, USER again works.
    assert written(conn, b"PASS bad\r\n") == b"-ERR PASS must follow USER\r\n"
    assert isinstance(events(conn, b"USER a@x.org\r\nPASS good\r\n")[-1], Pass)


def test_maildrop_in_use() -> None:
    conn = Pop3Connection(PLAIN_CONFIG)
    events(conn, b"USER a@x.org\r\nPASS pw\r\n")
    assert conn.send(Err("maildrop locked", RespCode.IN_USE)) == (
        b"-ERR [IN-USE] maildrop locked\r\n"
    )


def test_pass_only_immediately_after_user() -> None:
    conn = Pop3Connection(PLAIN_CONFIG)
    out = written(conn, b"USER a@x.org\r\nCAPA\r\nPASS pw\r\n")
    assert out.endswith(b"-ERR PASS must follow USER\r\n")


def test_user_refused_without_tls() -> None:
    conn = Pop3Connection(Pop3Config(tls_available=True))
    assert written(conn, b"USER a@x.org\r\n") == b"-ERR USER needs TLS: use STLS first\r\n"
    assert written(conn, b"PASS pw\r\n") == b"-ERR PASS must follow USER\r\n"


def test_user_allowed_with_tls() -> None:
    conn = Pop3Connection(Pop3Config(tls_active=True))
    assert written(conn, b"USER a@x.org\r\n") == b"+OK send PASS\r\n"


def test_utf8_user_name() -> None:
    conn = Pop3Connection(PLAIN_CONFIG)
    assert events(conn, b"UTF8\r\n") == [Write(b"+OK UTF8 enabled\r\n"), Utf8()]
    assert conn.utf8
    got = events(conn, "USER jörg@exämple.org\r\nPASS pässword\r\n".encode())
    assert got[-1] == Pass("jörg@exämple.org", "pässword")


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"USER\r\n", b"-ERR missing argument\r\n"),
        (b"USER   \r\n", b"-ERR missing argument\r\n"),
        (b"USER a\xff\r\n", b"-ERR argument is not valid UTF-8\r\n"),
        (b"USER a\x00b\r\n", b"-ERR control characters not allowed\r\n"),
    ],
)
def test_bad_user_arguments(line: bytes, reply: bytes) -> None:
    assert written(Pop3Connection(PLAIN_CONFIG), line) == reply


# --- SASL ----------------------------------------------------------------------------------


def test_auth_plain_with_initial_response() -> None:
    conn = Pop3Connection(PLAIN_CONFIG)
    initial = base64.b64encode(b"\x00alice@example.org\x00pw")
    [start] = events(conn, b"AUTH PLAIN " + initial + b"\r\n")
    assert start == AuthStart("PLAIN", initial)
    mech = sasl.start(start.mechanism, allowed=conn.sasl_mechanisms)
    assert sasl_reply(conn, mech, start.initial).startswith(b"+OK maildrop has 3")
    assert conn.state is Pop3State.TRANSACTION


def test_auth_login_with_challenges() -> None:
    conn = Pop3Connection(PLAIN_CONFIG)
    [start] = events(conn, b"auth login\r\n")
    assert start == AuthStart("LOGIN", None)
    mech = sasl.start("LOGIN")
    assert sasl_reply(conn, mech, None) == b"+ VXNlcm5hbWU6\r\n"
    [resp] = events(conn, base64.b64encode(b"alice@example.org") + b"\r\n")
    assert isinstance(resp, AuthResponse)
    assert sasl_reply(conn, mech, resp.line) == b"+ UGFzc3dvcmQ6\r\n"
    [resp] = events(conn, base64.b64encode(b"pw") + b"\r\n")
    assert isinstance(resp, AuthResponse)
    assert sasl_reply(conn, mech, resp.line).startswith(b"+OK")


def test_auth_cancel_returns_to_commands() -> None:
    conn = Pop3Connection(PLAIN_CONFIG)
    assert events(conn, b"AUTH PLAIN\r\n") == [AuthStart("PLAIN", None)]
    mech = sasl.start("PLAIN")
    assert sasl_reply(conn, mech, None) == b"+ \r\n"
    [resp] = events(conn, b"*\r\nCAPA\r\n")
    assert resp == AuthResponse(b"*")
    assert sasl_reply(conn, mech, resp.line) == b"-ERR authentication cancelled\r\n"
    assert written(conn).startswith(b"+OK capability list follows")


def test_sasl_lines_are_not_commands() -> None:
    conn = Pop3Connection(PLAIN_CONFIG)
    events(conn, b"AUTH LOGIN\r\n")
    conn.auth_challenge(b"Username:")
    assert events(conn, b"QUIT\r\n") == [AuthResponse(b"QUIT")]


def test_auth_mechanism_not_offered_without_tls() -> None:
    conn = Pop3Connection(Pop3Config(tls_available=True))
    assert conn.sasl_mechanisms == ()
    assert written(conn, b"AUTH PLAIN\r\n") == b"-ERR mechanism PLAIN not available\r\n"
    assert written(conn, b"AUTH\r\n") == b"+OK SASL mechanisms follow\r\n.\r\n"


def test_auth_listing_form() -> None:
    conn = Pop3Connection(PLAIN_CONFIG)
    assert written(conn, b"AUTH\r\n") == b"+OK SASL mechanisms follow\r\nPLAIN\r\nLOGIN\r\n.\r\n"


def test_scram_offered_when_configured() -> None:
    conn = Pop3Connection(Pop3Config(scram=True, tls_available=False))  # a listener without TLS
    assert conn.sasl_mechanisms == ("SCRAM-SHA-256",)
    [start] = events(conn, b"AUTH SCRAM-SHA-256 biwsbj11c2VyLHI9YWJj\r\n")
    assert start == AuthStart("SCRAM-SHA-256", b"biwsbj11c2VyLHI9YWJj")


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"AUTH PL@IN\r\n", b"-ERR invalid mechanism name\r\n"),
        (b"AUTH PLAIN a b\r\n", b"-ERR too many arguments\r\n"),
        (b"AUTH CRAM-MD5\r\n", b"-ERR mechanism CRAM-MD5 not available\r\n"),
    ],
)
def test_bad_auth_commands(line: bytes, reply: bytes) -> None:
    assert written(Pop3Connection(PLAIN_CONFIG), line) == reply


def test_auth_initial_response_may_exceed_command_limit() -> None:
    conn = Pop3Connection(PLAIN_CONFIG)
    initial = b"A" * 2000
    assert events(conn, b"AUTH PLAIN " + initial + b"\r\n") == [AuthStart("PLAIN", initial)]


def test_overlong_sasl_line_ends_the_exchange() -> None:
    conn = Pop3Connection(PLAIN_CONFIG)
    events(conn, b"AUTH PLAIN\r\n")
    conn.auth_challenge(b"")
    out = written(conn, b"A" * (conn.config.max_sasl_line + 10) + b"\r\nNOOP\r\n")
    assert out == b"-ERR line too long\r\n-ERR NOOP not valid in this state\r\n"


# --- STLS (RFC 2595) -----------------------------------------------------------------------


def test_stls_discards_pipelined_input() -> None:
    conn = Pop3Connection(Pop3Config(tls_available=True))
    assert events(conn, b"STLS\r\nUSER a\r\n") == [Stls()]
    assert conn.start_tls() == b"+OK begin TLS negotiation\r\n"
    assert conn.tls_active
    assert conn.next_event() is NEED_DATA  # the USER line is gone
    assert written(conn, b"USER a@x.org\r\n") == b"+OK send PASS\r\n"


def test_after_tls_no_stls() -> None:
    conn = Pop3Connection(Pop3Config(tls_available=True))
    events(conn, b"STLS\r\n")
    conn.start_tls()
    capa = written(conn, b"CAPA\r\n")
    assert b"STLS" not in capa
    assert b"\r\nUSER\r\n" in capa
    assert b"SASL PLAIN LOGIN" in capa
    assert written(conn, b"STLS\r\n") == b"-ERR TLS already active\r\n"


def test_stls_unavailable_and_refusable() -> None:
    assert written(Pop3Connection(Pop3Config()), b"STLS\r\n") == b"-ERR STLS not available\r\n"
    conn = Pop3Connection(Pop3Config(tls_available=True))
    events(conn, b"STLS\r\n")
    assert conn.send(Err("TLS unavailable", RespCode.SYS_TEMP)) == (
        b"-ERR [SYS/TEMP] TLS unavailable\r\n"
    )
    assert not conn.tls_active


def test_stls_forgets_user_and_utf8() -> None:
    conn = Pop3Connection(Pop3Config(tls_available=True, allow_plaintext=True))
    events(conn, b"UTF8\r\nUSER a@x.org\r\nSTLS\r\n")
    conn.start_tls()
    assert not conn.utf8
    assert written(conn, b"PASS pw\r\n") == b"-ERR PASS must follow USER\r\n"


# --- TRANSACTION ---------------------------------------------------------------------------


def test_dele_hides_message_and_rset_restores() -> None:
    conn = logged_in()
    assert written(conn, b"DELE 2\r\n") == b"+OK message 2 deleted\r\n"
    assert written(conn, b"STAT\r\n") == b"+OK 2 400\r\n"
    assert written(conn, b"LIST\r\n") == b"+OK 2 messages (400 octets)\r\n1 100\r\n3 300\r\n.\r\n"
    assert written(conn, b"UIDL\r\n") == (
        b"+OK unique-id listing follows\r\n1 1234.10\r\n3 1234.12\r\n.\r\n"
    )
    for line in (b"DELE 2", b"RETR 2", b"TOP 2 1", b"LIST 2", b"UIDL 2"):
        assert written(conn, line + b"\r\n") == b"-ERR message 2 already deleted\r\n"
    assert written(conn, b"RSET\r\n") == b"+OK maildrop has 3 messages (600 octets)\r\n"
    assert written(conn, b"LIST 2\r\n") == b"+OK 2 200\r\n"


@pytest.mark.parametrize("line", [b"RETR 0", b"RETR 4", b"DELE 99", b"LIST 4", b"UIDL 0",
                                  b"TOP 4 1", b"RETR 99999999999"])
def test_no_such_message(line: bytes) -> None:
    out = written(logged_in(), line + b"\r\n")
    assert out in (b"-ERR no such message\r\n", b"-ERR invalid message number\r\n")


def test_retr_and_top_requests() -> None:
    conn = logged_in()
    assert events(conn, b"RETR 3\r\n") == [Retr(3, 12)]
    conn.send_message(b"x\r\n")
    assert events(conn, b"TOP 1 5\r\n") == [Top(1, 10, 5)]
    conn.send_message(b"x\r\n")
    assert events(conn, b"RETR 2\r\n") == [Retr(2, 11)]
    assert conn.send(Err("message vanished", RespCode.SYS_TEMP)) == (
        b"-ERR [SYS/TEMP] message vanished\r\n"
    )


def test_quit_commits_deleted_and_retrieved() -> None:
    conn = logged_in()
    events(conn, b"RETR 1\r\n")
    conn.send_message(b"a\r\n")
    events(conn, b"TOP 2 0\r\n")
    conn.send_message(b"a\r\n")  # TOP does not count as retrieval
    got = events(conn, b"DELE 3\r\nDELE 1\r\nQUIT\r\n")
    assert got[-1] == Commit(deleted_uids=(10, 12), retrieved_uids=(10,))
    assert conn.state is Pop3State.UPDATE
    assert conn.send(Ok("bye")) == b"+OK bye\r\n"
    assert conn.state in {Pop3State.CLOSED}
    assert conn.next_event() == Closed()


def test_commit_failure_reports_sys_temp() -> None:
    conn = logged_in()
    events(conn, b"QUIT\r\n")
    assert conn.send(Err("could not remove messages", RespCode.SYS_TEMP)) == (
        b"-ERR [SYS/TEMP] could not remove messages\r\n"
    )
    assert conn.next_event() == Closed()


def test_dropped_connection_never_commits() -> None:
    conn = logged_in()
    got = events(conn, b"DELE 1\r\nQUI")  # connection drops mid-command
    assert not any(isinstance(e, Commit) for e in got)
    assert conn.next_event() is NEED_DATA


def test_quit_in_authorization() -> None:
    conn = Pop3Connection(PLAIN_CONFIG)
    assert events(conn, b"QUIT\r\nCAPA\r\n") == [Write(b"+OK bye\r\n"), Closed()]
    assert conn.state is Pop3State.CLOSED
    conn.receive_data(b"NOOP\r\n")  # ignored
    assert conn.next_event() == Closed()


def test_empty_maildrop() -> None:
    conn = logged_in(maildrop=[])
    assert written(conn, b"STAT\r\nLIST\r\nUIDL\r\n") == (
        b"+OK 0 0\r\n+OK 0 messages (0 octets)\r\n.\r\n+OK unique-id listing follows\r\n.\r\n"
    )


# --- pipelining and limits -----------------------------------------------------------------


def test_pipelining_many_commands_in_one_read() -> None:
    conn = logged_in()
    batch = b"STAT\r\n" + b"NOOP\r\n" * 50 + b"LIST 1\r\nUIDL 1\r\nDELE 1\r\nSTAT\r\n"
    out = written(conn, batch)
    assert out == (b"+OK 3 600\r\n" + b"+OK\r\n" * 50
                   + b"+OK 1 100\r\n+OK 1 1234.10\r\n+OK message 1 deleted\r\n+OK 2 500\r\n")


def test_pipelined_requests_wait_for_answers() -> None:
    conn = logged_in()
    conn.receive_data(b"RETR 1\r\nRETR 2\r\nQUIT\r\n")
    assert conn.next_event() == Retr(1, 10)
    with pytest.raises(LocalProtocolError):
        conn.next_event()
    conn.send_message(b"m\r\n")
    assert conn.next_event() == Retr(2, 11)
    conn.send_message(b"m\r\n")
    assert conn.next_event() == Commit((), (10, 11))


def test_lenient_command_length_then_err() -> None:
    conn = logged_in()
    assert written(conn, b"NOOP" + b" " * 300 + b"\r\n") == b"+OK\r\n"  # > 255 but <= 512
    assert written(conn, b"NOOP" + b" " * 600 + b"\r\n") == b"-ERR command line too long\r\n"
    huge = b"X" * (conn.config.max_sasl_line * 2)
    assert written(conn, huge + b"\r\nNOOP\r\n") == b"-ERR line too long\r\n+OK\r\n"


def test_too_many_errors_closes() -> None:
    conn = Pop3Connection(Pop3Config(max_errors=3))
    got = events(conn, b"BOGUS\r\nBOGUS\r\nBOGUS\r\nCAPA\r\n")
    assert got == [Write(b"-ERR unknown command\r\n"), Write(b"-ERR unknown command\r\n"),
                   Write(b"-ERR too many errors, closing connection\r\n"), Closed()]


def test_bare_lf_line_endings_are_accepted() -> None:
    conn = logged_in()
    assert written(conn, b"STAT\nNOOP\n") == b"+OK 3 600\r\n+OK\r\n"


# --- adapter mistakes are LocalProtocolErrors ---------------------------------------------


def test_adapter_mistakes() -> None:
    conn = Pop3Connection(PLAIN_CONFIG)
    with pytest.raises(LocalProtocolError):
        conn.send(Err("nothing pending"))
    with pytest.raises(LocalProtocolError):
        conn.login_succeeded([], uidvalidity=1)
    with pytest.raises(LocalProtocolError):
        conn.start_tls()
    events(conn, b"USER a@x.org\r\nPASS pw\r\n")
    with pytest.raises(LocalProtocolError):
        conn.send(Ok("welcome"))  # a login needs login_succeeded
    with pytest.raises(LocalProtocolError):
        conn.send_message(b"")
    with pytest.raises(LocalProtocolError):
        conn.login_succeeded([(1, 1), (1, 2)], uidvalidity=1)  # duplicate uid
    with pytest.raises(LocalProtocolError):
        conn.login_succeeded([(1, -1)], uidvalidity=1)
    assert conn.login_succeeded([(1, 1)], uidvalidity=1).startswith(b"+OK")


def test_pass_repr_hides_password() -> None:
    assert "hunter2" not in repr(Pass("a", "hunter2"))
