"""Server core behaviour beyond the state table: EHLO, STARTTLS, AUTH, limits, replies."""

from __future__ import annotations

import pytest

from posthouse.sasl import Challenge
from posthouse.sasl.events import AuthResponse, AuthStart
from posthouse.smtp import replies
from posthouse.smtp.connection import SmtpServerConnection
from posthouse.smtp.events import (
    DataStart,
    Helo,
    Help,
    MailFrom,
    Noop,
    RcptTo,
    Rejected,
    SmtpEvent,
    StartTLS,
    Vrfy,
)
from posthouse.smtp.grammar import Address
from posthouse.smtp.replies import Reply
from posthouse.smtp.states import Phase
from posthouse.wire import LocalProtocolError
from posthouse.wire.events import NEED_DATA, Closed
from tests.unit.test_smtp_support import (
    CONFIG,
    auto_reply,
    bytewise,
    config,
    feed,
    no_tls_reply,
    run,
)

EHLO = b"EHLO c.example\r\n"
MAIL = b"MAIL FROM:<a@b.example>\r\n"
RCPT = b"RCPT TO:<c@d.example>\r\n"


def rejected(events: list[SmtpEvent]) -> list[tuple[int, str | None]]:
    return [(e.reply.code, e.reply.enhanced) for e in events if isinstance(e, Rejected)]


def ehlo_keywords(conn: SmtpServerConnection) -> list[str]:
    return list(conn.ehlo_reply().lines[1:])


# -- Greeting and EHLO ---------------------------------------------------------------------------

def test_greeting() -> None:
    assert SmtpServerConnection(CONFIG).greeting() == b"220 mx.example.org ESMTP posthouse\r\n"


def test_ehlo_lists_every_enabled_extension() -> None:
    conn = SmtpServerConnection(CONFIG)
    assert ehlo_keywords(conn) == [
        "SIZE 10000", "PIPELINING", "8BITMIME", "SMTPUTF8", "CHUNKING", "BINARYMIME", "DSN",
        "ENHANCEDSTATUSCODES", "STARTTLS", "AUTH PLAIN LOGIN",
    ]
    assert conn.ehlo_reply().lines[0] == "mx.example.org"


def test_ehlo_with_everything_off() -> None:
    cfg = config(size=False, pipelining=False, eightbitmime=False, smtputf8=False,
                 chunking=False, dsn=False, enhancedstatuscodes=False, starttls=False,
                 auth=False)
    assert ehlo_keywords(SmtpServerConnection(cfg)) == []


def test_binarymime_needs_chunking() -> None:
    assert "BINARYMIME" not in ehlo_keywords(SmtpServerConnection(config(chunking=False)))


def test_auth_only_offered_over_tls_when_required() -> None:
    cfg = config(auth_requires_tls=True)
    assert not any(k.startswith("AUTH") for k in ehlo_keywords(SmtpServerConnection(cfg)))
    tls = SmtpServerConnection(cfg, tls_active=True)
    assert "AUTH PLAIN LOGIN" in ehlo_keywords(tls)
    assert "STARTTLS" not in ehlo_keywords(tls)


def test_helo_reply_is_one_line() -> None:
    conn, out = feed(b"HELO c.example\r\n")
    assert bytes(out.output) == b"250 mx.example.org\r\n"
    assert not conn.extended


def test_ehlo_reply_has_no_enhanced_codes_even_the_second_time() -> None:
    _, out = feed(EHLO + EHLO)
    assert b"2.0.0" not in out.output
    assert out.output.count(b"250 STARTTLS\r\n") == 0
    assert out.output.count(b"250 AUTH PLAIN LOGIN\r\n") == 2


def test_helo_needs_a_name() -> None:
    _, out = feed(b"HELO\r\nEHLO \r\nEHLO \xc3\xbc\r\n")
    assert out.codes == [501, 501, 501]


def test_helo_name_is_first_word() -> None:
    _, out = feed(b"EHLO  name.example trailing words\r\n")
    assert out.events[0] == Helo("name.example", True)


# -- Enhanced status codes (RFC 2034) -------------------------------------------------------------

def test_enhanced_codes_only_after_ehlo() -> None:
    _, out = feed(b"NOOP\r\n" + EHLO + b"NOOP\r\n")
    assert bytes(out.output).startswith(b"250 OK\r\n")
    assert bytes(out.output).endswith(b"250 2.0.0 OK\r\n")


def test_missing_enhanced_code_gets_the_generic_one() -> None:
    conn, _ = feed(EHLO)
    conn.receive_data(b"NOOP\r\n")
    conn.next_event()
    assert conn.send(Reply(250, None, "fine")) == b"250 2.0.0 fine\r\n"
    conn.receive_data(b"VRFY x\r\n")
    conn.next_event()
    assert conn.send(Reply(550, None, "no")) == b"550 5.0.0 no\r\n"


def test_ehlo_reply_follows_the_pending_event() -> None:
    conn = SmtpServerConnection(CONFIG)
    conn.receive_data(b"HELO c\r\nEHLO c\r\n")
    conn.next_event()
    assert conn.ehlo_reply().lines == ("mx.example.org",)
    conn.send(conn.ehlo_reply())
    conn.next_event()
    assert len(conn.ehlo_reply().lines) > 1


def test_no_enhanced_codes_for_helo_clients() -> None:
    _, out = feed(b"HELO c.example\r\nNOOP\r\nMAIL FROM:<x>\r\n")
    assert bytes(out.output).endswith(b"250 OK\r\n501 Bad address: syntax\r\n")


def test_no_enhanced_codes_when_disabled() -> None:
    _, out = feed(EHLO + b"NOOP\r\n", config=config(enhancedstatuscodes=False))
    assert bytes(out.output).endswith(b"250 OK\r\n")


# -- Pipelining (RFC 2920) -----------------------------------------------------------------------

def test_pipelined_group_is_answered_in_order() -> None:
    wire = EHLO + MAIL + RCPT + b"RCPT TO:<e@f.example>\r\nDATA\r\n"
    whole = feed(wire)[1]
    single = run(SmtpServerConnection(CONFIG), bytewise(wire))
    assert whole.events == single.events
    assert whole.output == single.output
    assert whole.codes == [250, 250, 250, 250, 354]


# -- STARTTLS (RFC 3207) --------------------------------------------------------------------------

def test_starttls_discards_pipelined_input() -> None:
    conn, out = feed(EHLO + b"STARTTLS\r\nMAIL FROM:<a@b>\r\n")
    assert [type(e) for e in out.events] == [type(out.events[0]), StartTLS]
    assert not out.of(MailFrom)
    assert conn.tls_active
    assert conn.phase is Phase.FRESH
    assert conn.next_event() == NEED_DATA


def test_after_starttls_the_client_starts_over() -> None:
    conn, _ = feed(EHLO + b"STARTTLS\r\n")
    out = run(conn, [MAIL + EHLO + b"STARTTLS\r\n"])
    assert out.codes == [503, 250, 503]
    assert "STARTTLS" not in ehlo_keywords(conn)
    assert rejected(out.events) == [(503, "5.5.1"), (503, "5.5.1")]


def test_starttls_forgets_authentication() -> None:
    conn, _ = feed(EHLO + b"AUTH PLAIN AGEAYg==\r\n")
    assert conn.authenticated
    run(conn, [b"STARTTLS\r\n"])
    assert not conn.authenticated


def test_refused_starttls_keeps_the_plaintext_session() -> None:
    conn, out = feed(EHLO + b"STARTTLS\r\n" + MAIL, answer=no_tls_reply)
    assert out.codes == [250, 454, 250]
    assert not conn.tls_active


def test_starttls_argument_and_disabled() -> None:
    _, out = feed(EHLO + b"STARTTLS now\r\n")
    assert rejected(out.events) == [(501, "5.5.4")]
    _, out = feed(EHLO + b"STARTTLS\r\n", config=config(starttls=False))
    assert rejected(out.events) == [(502, "5.5.1")]


def test_start_tls_out_of_place_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        SmtpServerConnection(CONFIG).start_tls()


def test_bytes_after_220_before_start_tls_are_dropped() -> None:
    conn = SmtpServerConnection(CONFIG)
    conn.receive_data(EHLO + b"STARTTLS\r\n")
    assert isinstance(conn.next_event(), Helo)
    conn.send(conn.ehlo_reply())
    assert isinstance(conn.next_event(), StartTLS)
    assert conn.send(replies.ready_to_start_tls()) == b"220 2.0.0 Ready to start TLS\r\n"
    conn.receive_data(MAIL)
    conn.start_tls()
    assert conn.next_event() == NEED_DATA


# -- AUTH (RFC 4954) ------------------------------------------------------------------------------

def test_auth_with_initial_response() -> None:
    """The initial response is handed over as sent: only the SASL mechanism decodes it."""
    conn, out = feed(EHLO + b"AUTH plain AGEAYg==\r\n")
    assert out.events[1] == AuthStart("PLAIN", b"AGEAYg==")
    assert conn.authenticated
    _, out = feed(EHLO + b"AUTH PLAIN =\r\n")
    assert out.events[1] == AuthStart("PLAIN", b"=")


def test_auth_exchange_with_challenges() -> None:
    conn, out = feed(EHLO + b"AUTH LOGIN\r\ndXNlcg==\r\nNOOP\r\n")
    assert out.events[1:3] == [AuthStart("LOGIN", None), AuthResponse(b"dXNlcg==")]
    assert bytes(out.output).split(b"\r\n")[-4:-1] == [b"334 ", b"235 2.7.0 Authentication "
                                                      b"successful", b"250 2.0.0 OK"]
    assert conn.authenticated


def test_auth_cancel_and_bad_base64_reach_the_adapter_raw() -> None:
    """"*" and bad base64 are the mechanism's to judge (the 501 5.7.0 / 501 5.5.2 replies
    are tested over sockets in tests/integration/test_smtp_auth.py); the core hands them
    over and returns to commands after the adapter's 501."""
    def judge(conn: SmtpServerConnection, event: SmtpEvent) -> Reply:
        if isinstance(event, AuthResponse):
            return replies.auth_cancelled() if event.line == b"*" else replies.auth_bad_base64()
        return auto_reply(conn, event)

    conn, out = feed(EHLO + b"AUTH LOGIN\r\n*\r\nAUTH LOGIN\r\n!!\r\nNOOP\r\n", answer=judge)
    assert [e for e in out.events if isinstance(e, AuthResponse)] == [
        AuthResponse(b"*"), AuthResponse(b"!!")]
    assert out.codes == [250, 334, 501, 334, 501, 250]
    assert isinstance(out.events[-1], Noop)
    assert not conn.authenticated
    _, out = feed(EHLO + b"AUTH PLAIN !!!!\r\n")
    assert out.events[1] == AuthStart("PLAIN", b"!!!!")


def test_auth_failure_returns_to_commands() -> None:
    def deny(conn: SmtpServerConnection, event: SmtpEvent) -> Reply:
        if isinstance(event, AuthResponse):
            return replies.auth_failed()
        return auto_reply(conn, event)

    conn, out = feed(EHLO + b"AUTH LOGIN\r\neA==\r\nNOOP\r\n", answer=deny)
    assert out.codes == [250, 334, 535, 250]
    assert not conn.authenticated


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"AUTH CRAM-MD5\r\n", (504, "5.5.4")),
        (b"AUTH\r\n", (501, "5.5.4")),
        (b"AUTH PLAIN a b\r\n", (501, "5.5.4")),
    ],
)
def test_auth_syntax(line: bytes, expected: tuple[int, str]) -> None:
    _, out = feed(EHLO + line)
    assert rejected(out.events) == [expected]


def test_auth_policy() -> None:
    _, out = feed(EHLO + b"AUTH PLAIN =\r\nAUTH PLAIN =\r\n")
    assert rejected(out.events) == [(503, "5.5.1")]  # already authenticated
    _, out = feed(EHLO + b"AUTH PLAIN =\r\n", config=config(auth_requires_tls=True))
    assert rejected(out.events) == [(530, "5.7.0")]
    _, out = feed(EHLO + b"AUTH PLAIN =\r\n", config=config(auth=False))
    assert rejected(out.events) == [(502, "5.5.1")]


def test_long_auth_response_line_is_refused_and_ends_the_exchange() -> None:
    _, out = feed(EHLO + b"AUTH LOGIN\r\n" + b"A" * 2000 + b"\r\nNOOP\r\n")
    assert rejected(out.events) == [(500, "5.5.2")]
    assert isinstance(out.events[-1], Noop)


def test_auth_required_and_tls_required_for_mail() -> None:
    _, out = feed(EHLO + MAIL + b"AUTH PLAIN =\r\n" + MAIL, config=config(auth_required=True))
    assert out.codes == [250, 530, 235, 250]
    _, out = feed(EHLO + MAIL, config=config(tls_required=True))
    assert rejected(out.events) == [(530, "5.7.0")]
    _, out = feed(EHLO + MAIL, config=config(tls_required=True), tls_active=True)
    assert out.codes == [250, 250]


# -- Transactions ---------------------------------------------------------------------------------

def test_refused_mail_keeps_the_phase() -> None:
    def refuse_mail(conn: SmtpServerConnection, event: SmtpEvent) -> Reply:
        if isinstance(event, MailFrom):
            return replies.relay_denied()
        return auto_reply(conn, event)

    conn, out = feed(EHLO + MAIL + RCPT, answer=refuse_mail)
    assert out.codes == [250, 554, 503]
    assert conn.phase is Phase.GREETED


def test_all_recipients_refused_then_data_is_554() -> None:
    def refuse_rcpt(conn: SmtpServerConnection, event: SmtpEvent) -> Reply:
        if isinstance(event, RcptTo):
            return replies.no_such_user()
        return auto_reply(conn, event)

    _, out = feed(EHLO + MAIL + RCPT + b"DATA\r\n", answer=refuse_rcpt)
    assert out.codes == [250, 250, 550, 554]
    assert not out.of(DataStart)


def test_too_many_recipients() -> None:
    rcpts = b"".join(b"RCPT TO:<u%d@d.example>\r\n" % i for i in range(4))
    conn, out = feed(EHLO + MAIL + rcpts, config=config(max_recipients=3))
    assert out.codes == [250, 250, 250, 250, 250, 452]
    assert rejected(out.events) == [(452, "4.5.3")]
    assert conn.recipients == 3


def test_rset_and_second_ehlo_reset_the_transaction() -> None:
    conn, _ = feed(EHLO + MAIL + RCPT + b"RSET\r\n")
    assert (conn.phase, conn.recipients, conn.mail_params) == (Phase.GREETED, 0, None)
    conn, _ = feed(EHLO + MAIL + RCPT + EHLO)
    assert conn.phase is Phase.GREETED


def test_mail_params_visible_to_the_adapter() -> None:
    conn, _ = feed(EHLO + b"MAIL FROM:<a@b.example> BODY=8BITMIME\r\n")
    assert conn.mail_params is not None
    assert conn.mail_params.body == "8BITMIME"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"MAIL FROM: <a@b.example>\r\n", None),  # a space after the colon is tolerated
        (b"mail from:<>\r\n", None),
        (b"MAIL FROM:<@r.example:a@b.example>\r\n", None),
        (b"MAIL FROM:a@b.example\r\n", (501, "5.1.7")),
        (b"MAIL FROM:<a@b.example>SIZE=1\r\n", (501, "5.1.7")),
        (b"MAIL FROM:<" + b"a" * 65 + b"@b.example>\r\n", (501, "5.1.7")),
        (b"MAIL TO:<a@b.example>\r\n", (501, "5.5.4")),
        (b"MAIL\r\n", (501, "5.5.4")),
        (b"MAIL FROM:<a@b.example> SIZE=10001\r\n", (552, "5.3.4")),
        (b"MAIL FROM:<a@b.example> X=1\r\n", (555, "5.5.4")),
        (b"MAIL FROM:<\xc3\xbc@b.example>\r\n", (553, "5.6.7")),
        (b"MAIL FROM:<\xc3\xbc@b.example> SMTPUTF8\r\n", None),
    ],
)
def test_mail_syntax(line: bytes, expected: tuple[int, str] | None) -> None:
    _, out = feed(EHLO + line)
    assert rejected(out.events) == ([] if expected is None else [expected])


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"RCPT TO:<c@d.example>\r\n", None),
        (b"RCPT TO:<Postmaster>\r\n", None),
        (b"RCPT TO: <c@d.example> NOTIFY=NEVER\r\n", None),
        (b"RCPT TO:<>\r\n", (501, "5.1.3")),
        (b"RCPT TO:c@d.example\r\n", (501, "5.1.3")),
        (b"RCPT TO:<c@" + b"d" * 64 + b".example>\r\n", (501, "5.1.3")),
        (b"RCPT FROM:<c@d.example>\r\n", (501, "5.5.4")),
        (b"RCPT TO:<\xc3\xbc@d.example>\r\n", (553, "5.6.7")),
        (b"RCPT TO:<c@d.example> SIZE=1\r\n", (555, "5.5.4")),
    ],
)
def test_rcpt_syntax(line: bytes, expected: tuple[int, str] | None) -> None:
    _, out = feed(EHLO + MAIL + line)
    assert rejected(out.events) == ([] if expected is None else [expected])


def test_utf8_recipient_in_smtputf8_transaction() -> None:
    _, out = feed(EHLO + b"MAIL FROM:<a@b.example> SMTPUTF8\r\nRCPT TO:<\xc3\xbc@d.example>\r\n")
    rcpts = [e.address for e in out.events if isinstance(e, RcptTo)]
    assert rcpts == [Address("ü", "d.example")]


def test_smtputf8_disabled_or_after_helo() -> None:
    _, out = feed(EHLO + b"MAIL FROM:<a@b.example> SMTPUTF8\r\n",
                  config=config(smtputf8=False))
    assert rejected(out.events) == [(555, "5.5.4")]
    _, out = feed(b"HELO c\r\nMAIL FROM:<a@b.example> SIZE=1\r\n")
    assert rejected(out.events) == [(555, "5.5.4")]
    assert bytes(out.output).endswith(b"555 SIZE parameter not supported\r\n")


# -- Other commands -------------------------------------------------------------------------------

def test_vrfy_expn_help_noop() -> None:
    _, out = feed(b"VRFY postmaster\r\nVRFY\r\nEXPN\r\nHELP DATA\r\nHELP\r\nNOOP anything\r\n")
    assert out.events[0] == Vrfy("postmaster")
    assert out.codes == [252, 501, 501, 214, 214, 250]
    assert out.of(Help) == [Help("DATA"), Help(None)]


@pytest.mark.parametrize(
    "line",
    [b"\r\n", b"NO\x00OP\r\n", b"NOOP\x01\r\n", b"\xff\xfe\r\n", b"RSET x\r\n", b"QUIT x\r\n",
     b"DATA x\r\n"],
)
def test_malformed_lines(line: bytes) -> None:
    _, out = feed(EHLO + MAIL + RCPT + line + b"NOOP\r\n")
    assert out.codes[-1] == 250
    assert out.codes[3] in (500, 501)


def test_unknown_verbs() -> None:
    _, out = feed(b"GET / HTTP/1.1\r\nX" + b"Y" * 20 + b"\r\n1234\r\n")
    assert rejected(out.events) == [(500, "5.5.1")] * 3


def test_line_too_long_and_the_session_continues() -> None:
    wire = b"NOOP " + b"x" * 1000 + b"\r\nNOOP\r\n"
    for chunks in ([wire], bytewise(wire)):
        out = run(SmtpServerConnection(CONFIG), chunks)
        assert rejected(out.events) == [(500, "5.5.2")]
        assert out.codes == [500, 250]


def test_line_at_the_limit_is_fine() -> None:
    line = b"NOOP " + b"x" * (1000 - 7) + b"\r\n"
    assert len(line) == 1000
    _, out = feed(line)
    assert out.codes == [250]


# -- One reply per command ------------------------------------------------------------------------

def test_next_event_before_reply_is_a_local_error() -> None:
    conn = SmtpServerConnection(CONFIG)
    conn.receive_data(b"NOOP\r\nNOOP\r\n")
    conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.next_event()


def test_send_without_command_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        SmtpServerConnection(CONFIG).send(replies.ok())


def test_unsolicited_421_closes() -> None:
    conn = SmtpServerConnection(CONFIG)
    assert conn.send(replies.shutting_down("mx")).startswith(b"421 ")
    assert conn.closed
    assert conn.next_event() == Closed()
    with pytest.raises(LocalProtocolError):
        conn.send(replies.shutting_down("mx"))


def test_421_answer_closes() -> None:
    conn = SmtpServerConnection(CONFIG)
    conn.receive_data(b"NOOP\r\nNOOP\r\n")
    conn.next_event()
    conn.send(replies.too_many_errors("mx"))
    assert conn.next_event() == Closed()


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (MAIL, replies.start_mail_input()),
        (b"NOOP\r\n", replies.ready_to_start_tls()),
        (EHLO, replies.auth_challenge(Challenge(b""))),
        (b"DATA\r\n", replies.ok()),
        (b"STARTTLS\r\n", replies.ok()),
        (b"AUTH PLAIN =\r\n", replies.ok()),
        (b"XYZZY\r\n", replies.ok()),
        (b"NOOP\r\n", replies.auth_succeeded()),
    ],
)
def test_replies_that_cannot_answer_the_event(line: bytes, reply: Reply) -> None:
    conn, _ = feed(EHLO + MAIL + RCPT)
    conn.receive_data(line)
    assert conn.next_event() != NEED_DATA
    with pytest.raises(LocalProtocolError):
        conn.send(reply)


def test_quit_closes_and_ignores_the_rest() -> None:
    conn, out = feed(b"QUIT\r\nNOOP\r\n")
    assert out.codes == [221]
    conn.receive_data(b"NOOP\r\n")
    assert conn.next_event() == Closed()


def test_eof_closes() -> None:
    conn = SmtpServerConnection(CONFIG)
    out = run(conn, [b"NOOP\r\nNOO"], eof=True)
    assert out.codes == [250]
    assert out.events[-1] == Closed()
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"x")
