"""The client core: reply parsing, capabilities, command rendering, pipelining rules."""

from __future__ import annotations

import pytest

from posthouse.smtp.client import ServerReply, SmtpClientConnection
from posthouse.smtp.connection import SmtpServerConnection
from posthouse.smtp.events import MessageComplete
from posthouse.smtp.grammar import Address
from posthouse.smtp.params import Orcpt
from posthouse.smtp.replies import Reply
from posthouse.smtp.reply_reader import Capabilities, ReplyReader
from posthouse.wire import LocalProtocolError, RemoteProtocolError
from posthouse.wire.events import NEED_DATA, Closed
from posthouse.wire.transparency import dot_stuff, normalize_newlines
from tests.unit.test_smtp_support import CONFIG, bytewise, run

GREETING = b"220 mx.example.org ESMTP\r\n"
EHLO_REPLY = (b"250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
              b"250-SMTPUTF8\r\n250-CHUNKING\r\n250-DSN\r\n250-STARTTLS\r\n"
              b"250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN LOGIN\r\n")
A = Address("a", "b.example")
C = Address("c", "d.example")


def replies_of(data: bytes, **kw: int) -> list[Reply]:
    reader = ReplyReader(**kw)
    reader.feed(data)
    out = []
    while (reply := reader.next_reply()) is not None:
        out.append(reply)
    return out


def events(conn: SmtpClientConnection, data: bytes) -> list[ServerReply]:
    conn.receive_data(data)
    out = []
    while isinstance(event := conn.next_event(), ServerReply):
        out.append(event)
    return out


def ready(ehlo_reply: bytes = EHLO_REPLY) -> SmtpClientConnection:
    conn = SmtpClientConnection()
    events(conn, GREETING)
    conn.ehlo("me.example")
    events(conn, ehlo_reply)
    return conn


# -- Reply parsing --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("wire", "reply"),
    [
        (b"250 OK\r\n", Reply(250, None, "OK")),
        (b"250\r\n", Reply(250, None, "")),
        (b"250 2.1.5 OK\r\n", Reply(250, "2.1.5", "OK")),
        (b"250 2.1.5\r\n", Reply(250, "2.1.5", "")),
        (b"550-5.1.1 No\r\n550 5.1.1 such user\r\n", Reply(550, "5.1.1", ("No", "such user"))),
        (b"550-5.1.1 a\r\n550 b\r\n", Reply(550, "5.1.1", ("a", "b"))),
        (b"250 4.1.1 wrong class\r\n", Reply(250, None, "4.1.1 wrong class")),
        (b"250 2.1 no\r\n", Reply(250, None, "2.1 no")),
        (b"220-a\r\n220-\r\n220 b\r\n", Reply(220, None, ("a", "", "b"))),
        (b"250 OK\n", Reply(250, None, "OK")),  # bare LF tolerated from servers
        (b"250 caf\xc3\xa9 \xff\r\n", Reply(250, None, "café \ufffd")),
    ],
)
def test_reply_parsing(wire: bytes, reply: Reply) -> None:
    assert replies_of(wire) == [reply]
    assert replies_of(b"".join(bytewise(wire))) == [reply]


@pytest.mark.parametrize(
    "wire",
    [b"25 OK\r\n", b"2500 OK\r\n", b"abc OK\r\n", b"150 OK\r\n", b"650 OK\r\n", b"250_OK\r\n",
     b"250-a\r\n251 b\r\n", b"\r\n", b"250 a\rb\r\n", b"250 " + b"x" * 3000 + b"\r\n"],
)
def test_garbage_replies(wire: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        replies_of(wire)


def test_reply_line_count_is_bounded() -> None:
    with pytest.raises(RemoteProtocolError):
        replies_of(b"250-x\r\n" * 10 + b"250 x\r\n", max_lines=10)
    assert len(replies_of(b"250-x\r\n" * 9 + b"250 x\r\n", max_lines=10)[0].lines) == 10


# -- Capabilities ---------------------------------------------------------------------------------

def test_capabilities_from_ehlo() -> None:
    caps = Capabilities.from_ehlo(replies_of(EHLO_REPLY)[0])
    assert caps.size == 1000
    assert caps.auth == {"PLAIN", "LOGIN"}
    assert "pipelining" in caps
    assert "STARTTLS" in caps
    assert "BINARYMIME" not in caps
    assert "MX.EXAMPLE.ORG" not in caps  # the first line is the server's name


def test_capabilities_odd_forms() -> None:
    reply = Reply(250, None, ["mx", "SIZE 0", "AUTH=LOGIN", "x_bad y", "SIZE ²", "auth cram-md5"])
    caps = Capabilities.from_ehlo(reply)
    assert caps.size is None
    assert caps.auth == {"LOGIN", "CRAM-MD5"}
    assert caps.keywords == {"SIZE", "AUTH"}


# -- A session ------------------------------------------------------------------------------------

def test_pipelined_transaction() -> None:
    conn = ready()
    assert conn.capabilities is not None
    assert "PIPELINING" in conn.capabilities
    wire = conn.mail(A, size=10, body="8bitmime") + conn.rcpt(C, notify=["SUCCESS"]) + conn.data()
    assert wire == (b"MAIL FROM:<a@b.example> SIZE=10 BODY=8BITMIME\r\n"
                    b"RCPT TO:<c@d.example> NOTIFY=SUCCESS\r\nDATA\r\n")
    assert conn.owed == ("MAIL", "RCPT", "DATA")
    got = events(conn, b"250 2.1.0 OK\r\n250 2.1.5 OK\r\n354 go\r\n")
    assert [(e.command, e.reply.code, e.argument) for e in got] == [
        ("MAIL", 250, "a@b.example"), ("RCPT", 250, "c@d.example"), ("DATA", 354, None)]
    assert conn.message(b"Hi\r\n.dot") == b"Hi\r\n..dot\r\n.\r\n"
    assert events(conn, b"250 2.0.0 queued\r\n")[0].command == "MESSAGE"
    assert conn.quit() == b"QUIT\r\n"
    assert events(conn, b"221 bye\r\n")[0].command == "QUIT"
    assert conn.closed
    assert conn.next_event() == Closed()


def test_greeting_must_come_first() -> None:
    conn = SmtpClientConnection()
    assert conn.owed == ("GREETING",)
    with pytest.raises(LocalProtocolError):
        conn.ehlo("me.example")
    assert conn.next_event() == NEED_DATA


def test_no_pipelining_without_the_extension() -> None:
    conn = ready(b"250-mx\r\n250 SIZE 100\r\n")
    conn.mail(A)
    with pytest.raises(LocalProtocolError):
        conn.rcpt(C)


@pytest.mark.parametrize("ender", ["ehlo", "noop", "data", "quit"])
def test_group_enders_must_be_answered_first(ender: str) -> None:
    conn = ready()
    if ender == "data":
        conn.mail(A)
        conn.rcpt(C)
        conn.data()
    else:
        getattr(conn, ender)(*(["me"] if ender == "ehlo" else []))
    with pytest.raises(LocalProtocolError):
        conn.rset()


def test_message_only_after_354() -> None:
    conn = ready()
    with pytest.raises(LocalProtocolError):
        conn.message(b"x")
    conn.mail(A)
    conn.rcpt(C)
    conn.data()
    events(conn, b"250 ok\r\n250 ok\r\n354 go\r\n")
    with pytest.raises(LocalProtocolError):
        conn.rset()  # the content must come now
    conn.message(b"x")


def test_refused_data_keeps_commands_flowing() -> None:
    conn = ready()
    conn.mail(A)
    conn.rcpt(C)
    conn.data()
    events(conn, b"250 ok\r\n550 no\r\n554 no valid recipients\r\n")
    assert conn.rset() == b"RSET\r\n"


def test_parameters_need_their_extensions() -> None:
    conn = ready(b"250-mx\r\n250 PIPELINING\r\n")
    for kwargs in ({"size": 1}, {"body": "8BITMIME"}, {"smtputf8": True}, {"ret": "HDRS"},
                   {"envid": "x"}, {"auth": "<>"}):
        with pytest.raises(LocalProtocolError):
            conn.mail(A, **kwargs)
    with pytest.raises(LocalProtocolError):
        conn.starttls()


def test_dsn_and_auth_parameters() -> None:
    conn = ready(EHLO_REPLY.replace(b"250-DSN", b"250-DSN\r\n250-BINARYMIME"))
    wire = conn.mail(None, ret="hdrs", envid="id+1", auth="a=b@c", body="BINARYMIME")
    assert wire == b"MAIL FROM:<> BODY=BINARYMIME RET=HDRS ENVID=id+2B1 AUTH=a+3Db@c\r\n"
    wire = conn.rcpt(C, notify=["success", "delay"], orcpt=Orcpt("rfc822", "x+y@z"))
    assert wire == b"RCPT TO:<c@d.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;x+2By@z\r\n"
    with pytest.raises(LocalProtocolError):
        conn.data()  # BINARYMIME needs BDAT


def test_utf8_addresses_need_smtputf8() -> None:
    conn = ready()
    with pytest.raises(LocalProtocolError):
        conn.mail(Address("ü", "b.example"))
    conn.mail(A)
    with pytest.raises(LocalProtocolError):
        conn.rcpt(Address("ü", "d.example"))
    events(conn, b"250 ok\r\n")
    conn.rset()
    events(conn, b"250 ok\r\n")
    wire = conn.mail(Address("ü", "b.example"), smtputf8=True) + conn.rcpt(Address("é", "d"))
    assert wire == "MAIL FROM:<ü@b.example> SMTPUTF8\r\nRCPT TO:<é@d>\r\n".encode()


def test_injection_in_arguments_is_refused() -> None:
    conn = ready()
    with pytest.raises(LocalProtocolError):
        conn.mail(Address("a\r\nRCPT TO:<x@y>", "b"))
    with pytest.raises(LocalProtocolError):
        conn.ehlo("a b")
    with pytest.raises(LocalProtocolError):
        conn.mail(A, size=-1)


def test_bdat() -> None:
    conn = ready()
    conn.mail(A)
    conn.rcpt(C)
    assert conn.bdat(b"abc") == b"BDAT 3\r\nabc"
    assert conn.bdat(b"\r\n.\r\n", last=True) == b"BDAT 5 LAST\r\n\r\n.\r\n"
    assert conn.owed == ("MAIL", "RCPT", "BDAT", "BDAT")


def test_auth_exchange() -> None:
    conn = ready()
    assert conn.auth("plain", b"\x00a\x00b") == b"AUTH PLAIN AGEAYg==\r\n"
    events(conn, b"235 2.7.0 ok\r\n")
    assert conn.auth("PLAIN", b"") == b"AUTH PLAIN =\r\n"
    events(conn, b"535 5.7.8 no\r\n")
    assert conn.auth("LOGIN") == b"AUTH LOGIN\r\n"
    with pytest.raises(LocalProtocolError):
        conn.auth_response(b"early")
    got = events(conn, b"334 VXNlcm5hbWU6\r\n")
    assert got[0].reply.lines == ("VXNlcm5hbWU6",)
    with pytest.raises(LocalProtocolError):
        conn.noop()  # a response is due
    assert conn.auth_response(b"user") == b"dXNlcg==\r\n"
    events(conn, b"334 UGFzc3dvcmQ6\r\n")
    assert conn.auth_cancel() == b"*\r\n"
    assert events(conn, b"501 5.7.0 cancelled\r\n")[0].command == "AUTH"
    assert conn.noop() == b"NOOP\r\n"


def test_starttls_forgets_capabilities() -> None:
    conn = ready()
    conn.starttls()
    events(conn, b"220 2.0.0 go\r\n")
    with pytest.raises(LocalProtocolError):
        conn.ehlo("me")  # start_tls() first
    conn.start_tls()
    assert conn.capabilities is None
    conn.ehlo("me")


def test_starttls_response_injection_is_detected() -> None:
    conn = ready()
    conn.starttls()
    conn.receive_data(b"220 2.0.0 go\r\n250 injected\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_start_tls_out_of_place() -> None:
    with pytest.raises(LocalProtocolError):
        ready().start_tls()


def test_unsolicited_replies() -> None:
    conn = ready()
    with pytest.raises(RemoteProtocolError):
        events(conn, b"250 what\r\n")
    conn = ready()
    got = events(conn, b"421 4.3.2 shutting down\r\n")
    assert got[0].command == "NONE"
    assert conn.closed
    with pytest.raises(LocalProtocolError):
        conn.noop()


def test_421_to_a_command_closes() -> None:
    conn = ready()
    conn.noop()
    assert events(conn, b"421 bye\r\n")[0].command == "NOOP"
    assert conn.closed


def test_eof() -> None:
    conn = ready()
    conn.noop()
    conn.receive_data(b"250 par")
    conn.receive_data(b"")
    assert conn.next_event() == Closed()


# -- Dot-stuffing ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("content", "wire"),
    [
        (b"", b".\r\n"),
        (b"a", b"a\r\n.\r\n"),
        (b"a\r\n", b"a\r\n.\r\n"),
        (b".", b"..\r\n.\r\n"),
        (b".a\r\n.b\r\nc.\r\n", b"..a\r\n..b\r\nc.\r\n.\r\n"),
        (b"a\n.\nb", b"a\r\n..\r\nb\r\n.\r\n"),  # bare LF is normalised, never sent
        (b"a\r.\rb", b"a\r\n..\r\nb\r\n.\r\n"),
        (b"a\r\n\r\n", b"a\r\n\r\n.\r\n"),
    ],
)
def test_dot_stuff(content: bytes, wire: bytes) -> None:
    assert dot_stuff(normalize_newlines(content)) == wire


def test_client_against_the_server_core() -> None:
    """Both cores talking to each other in memory."""
    client, server = SmtpClientConnection(), SmtpServerConnection(CONFIG)
    events(client, server.greeting())
    to_server = client.ehlo("me.example")

    def exchange(data: bytes) -> list[ServerReply]:
        out = run(server, [data])
        received.extend(e for e in out.events if isinstance(e, MessageComplete))
        return events(client, bytes(out.output))

    received: list[MessageComplete] = []
    exchange(to_server)
    assert client.capabilities is not None
    assert client.capabilities.size == 10_000
    got = exchange(client.mail(A, size=20, smtputf8=True) + client.rcpt(C) + client.data())
    assert [e.reply.code for e in got] == [250, 250, 354]
    assert exchange(client.message(b".hidden\n.\nline"))[0].reply.enhanced == "2.0.0"
    assert [m.data for m in received] == [b".hidden\r\n.\r\nline\r\n"]
    exchange(client.mail(A) + client.rcpt(C) + client.bdat(b"x" * 5) + client.bdat(b"y", last=True))
    assert [m.data for m in received][-1] == b"xxxxxy"
    assert exchange(client.quit())[0].reply.code == 221
