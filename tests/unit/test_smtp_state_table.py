"""Every (phase, command) pair of the server core, table-driven (RFC 5321 4.1.4, 3.3).

Each cell says what the core does with the command in that phase, when the adapter accepts
everything it is asked about: the event (or the code of the Rejected reply) and the phase
afterwards (F fresh, G greeted, M mail, R rcpt, B bdat, X closed).
"""

from __future__ import annotations

import pytest

from posthouse.sasl.events import AuthResponse
from posthouse.smtp import replies
from posthouse.smtp.connection import SmtpServerConnection
from posthouse.smtp.events import Helo, Rejected, StartTLS
from posthouse.smtp.states import REFUSALS, VERBS, Phase
from posthouse.wire import LocalProtocolError
from posthouse.wire.events import NEED_DATA, Closed
from tests.unit.test_smtp_support import CONFIG, run

EHLO = b"EHLO c.example\r\n"
MAIL = b"MAIL FROM:<a@b.example>\r\n"
RCPT = b"RCPT TO:<c@d.example>\r\n"

SETUP = {
    "fresh": b"",
    "ehlo": EHLO,
    "helo": b"HELO c.example\r\n",
    "mail": EHLO + MAIL,
    "rcpt": EHLO + MAIL + RCPT,
    "bdat": EHLO + MAIL + RCPT + b"BDAT 1\r\nx",
}
SETUP_PHASE = {"fresh": "F", "ehlo": "G", "helo": "G", "mail": "M", "rcpt": "R", "bdat": "B"}

COMMANDS = {
    "HELO": b"HELO c.example\r\n",
    "EHLO": EHLO,
    "MAIL": MAIL,
    "RCPT": RCPT,
    "DATA": b"DATA\r\n",
    "BDAT": b"BDAT 3 LAST\r\nabc",
    "RSET": b"RSET\r\n",
    "NOOP": b"NOOP\r\n",
    "QUIT": b"QUIT\r\n",
    "VRFY": b"VRFY user\r\n",
    "EXPN": b"EXPN list\r\n",
    "HELP": b"HELP\r\n",
    "STARTTLS": b"STARTTLS\r\n",
    "AUTH": b"AUTH PLAIN AGEAYg==\r\n",
    "XYZZY": b"XYZZY\r\n",
}

TABLE = """
command   fresh   ehlo         helo        mail      rcpt               bdat
HELO      Helo/G  Helo/G       Helo/G      Helo/G    Helo/G             Helo/G
EHLO      Helo/G  Helo/G       Helo/G      Helo/G    Helo/G             Helo/G
MAIL      503/F   MailFrom/M   MailFrom/M  503/M     503/R              503/B
RCPT      503/F   503/G        503/G       RcptTo/R  RcptTo/R           503/B
DATA      503/F   503/G        503/G       554/M     DataStart/R        503/B
BDAT      503/F   503/G        503/G       554/M     MessageComplete/G  MessageComplete/G
RSET      Rset/F  Rset/G       Rset/G      Rset/G    Rset/G             Rset/G
NOOP      Noop/F  Noop/G       Noop/G      Noop/M    Noop/R             Noop/B
QUIT      Quit/X  Quit/X       Quit/X      Quit/X    Quit/X             Quit/X
VRFY      Vrfy/F  Vrfy/G       Vrfy/G      Vrfy/M    Vrfy/R             Vrfy/B
EXPN      Expn/F  Expn/G       Expn/G      Expn/M    Expn/R             Expn/B
HELP      Help/F  Help/G       Help/G      Help/M    Help/R             Help/B
STARTTLS  503/F   StartTLS/F   503/G       503/M     503/R              503/B
AUTH      503/F   AuthStart/G  503/G       503/M     503/R              503/B
XYZZY     500/F   500/G        500/G       500/M     500/R              500/B
"""


def _cells() -> list[tuple[str, str, str]]:
    rows = [line.split() for line in TABLE.strip().splitlines()]
    phases = rows[0][1:]
    return [(phase, row[0], cell) for row in rows[1:] for phase, cell in zip(phases, row[1:],
                                                                            strict=True)]


CELLS = _cells()
LETTER = {Phase.FRESH: "F", Phase.GREETED: "G", Phase.MAIL: "M", Phase.RCPT: "R",
          Phase.BDAT: "B"}


def test_table_covers_every_phase_and_verb() -> None:
    assert {p for p, _, _ in CELLS} == set(SETUP)
    assert {c for _, c, _ in CELLS} == {*VERBS, "XYZZY"}
    assert len(CELLS) == len(SETUP) * len(COMMANDS)


@pytest.mark.parametrize(("phase", "command", "expected"), CELLS,
                         ids=[f"{p}-{c}" for p, c, _ in CELLS])
def test_phase_command(phase: str, command: str, expected: str) -> None:
    conn = SmtpServerConnection(CONFIG)
    run(conn, [SETUP[phase]])
    assert LETTER[conn.phase] == SETUP_PHASE[phase]
    out = run(conn, [COMMANDS[command]])
    event = out.events[0]
    if isinstance(event, Rejected):
        label = str(event.reply.code)
        assert event.reply.enhanced == "5.5.1"  # invalid command / out of sequence
    else:
        label = type(event).__name__
    after = "X" if conn.closed else LETTER[conn.phase]
    assert f"{label}/{after}" == expected


def test_refusal_table_only_names_known_verbs() -> None:
    assert {verb for _, verb in REFUSALS} <= set(VERBS)


# -- The other input modes ---------------------------------------------------------------------

@pytest.mark.parametrize("command", list(COMMANDS))
def test_in_data_mode_every_line_is_content(command: str) -> None:
    conn = SmtpServerConnection(CONFIG)
    run(conn, [SETUP["rcpt"] + b"DATA\r\n"])
    out = run(conn, [COMMANDS[command]])
    assert out.events == []


@pytest.mark.parametrize("command", list(COMMANDS))
def test_in_auth_mode_every_line_is_a_sasl_response(command: str) -> None:
    conn = SmtpServerConnection(CONFIG)
    run(conn, [EHLO + b"AUTH LOGIN\r\n"])  # answered 334 by the scripted adapter
    out = run(conn, [COMMANDS[command]])
    event = out.events[0]
    if isinstance(event, Rejected):
        assert (event.reply.code, event.reply.enhanced) == (501, "5.5.2")  # not base64
        assert not conn.authenticated
    else:
        assert isinstance(event, AuthResponse)
        assert conn.authenticated


@pytest.mark.parametrize("command", list(COMMANDS))
def test_in_chunk_mode_every_octet_is_data(command: str) -> None:
    conn = SmtpServerConnection(CONFIG)
    raw = COMMANDS[command]
    run(conn, [SETUP["rcpt"] + b"BDAT %d LAST\r\n" % (len(raw) + 1)])
    out = run(conn, [raw])
    assert out.events == []


@pytest.mark.parametrize("command", list(COMMANDS))
def test_after_quit_everything_is_ignored(command: str) -> None:
    conn = SmtpServerConnection(CONFIG)
    run(conn, [b"QUIT\r\n"])
    out = run(conn, [COMMANDS[command]])
    assert out.events == [Closed()]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_while_tls_is_pending_input_is_dropped(command: str) -> None:
    conn = SmtpServerConnection(CONFIG)
    conn.receive_data(EHLO + b"STARTTLS\r\n")
    assert conn.next_event() == Helo("c.example", extended=True)
    conn.send(conn.ehlo_reply())
    assert conn.next_event() == StartTLS()
    conn.send(replies.ready_to_start_tls())
    conn.receive_data(COMMANDS[command])  # plaintext injected before the handshake
    with pytest.raises(LocalProtocolError):
        conn.next_event()
    conn.start_tls()
    assert conn.next_event() == NEED_DATA
