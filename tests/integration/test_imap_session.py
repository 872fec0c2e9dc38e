"""IMAP session: greeting, capabilities, TLS, login, ENABLE/ID/NAMESPACE, limits, errors.

Real clients (imaplib, imapclient and a raw line client) against the running server.
"""

from __future__ import annotations

import base64
import imaplib
import logging
from collections.abc import AsyncIterator

import pytest
from imapclient import IMAPClient

from posthouse.imap import commands as c
from posthouse.imap.handlers import HANDLERS, HandlerContext
from posthouse.imap.responses import Response
from tests.support.imap import ADDRESS, RawImap, tls_client
from tests.support.server import PASSWORD, ServerThread

# Every extension in every state: imaplib reads the list once, before login.
PRE_AUTH = {
    "IMAP4REV1", "IMAP4REV2", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "MOVE", "UIDPLUS",
    "MULTIAPPEND", "UNSELECT", "NAMESPACE", "SPECIAL-USE", "CREATE-SPECIAL-USE", "CHILDREN",
    "LIST-EXTENDED", "LIST-STATUS", "ESEARCH", "SEARCHRES", "BINARY", "STATUS=SIZE",
    "UTF8=ACCEPT", "QUOTA", "QUOTA=RES-STORAGE", "CONDSTORE", "QRESYNC", "APPENDLIMIT=52428800",
    "SAVEDATE", "UNAUTHENTICATE", "PREVIEW", "OBJECTID", "COMPRESS=DEFLATE", "METADATA",
    "METADATA-SERVER", "LIST-METADATA", "NOTIFY",
    "UIDONLY",  # RFC 9586
}


@pytest.fixture
def srv(server: ServerThread) -> ServerThread:
    server.add_user(ADDRESS)
    return server


def test_capabilities_before_and_after_starttls_and_login(srv: ServerThread) -> None:
    imap = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    assert imap.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1 ")
    assert imap.welcome.endswith(b"] posthouse ready")
    caps = set(imap.capabilities)
    assert caps == PRE_AUTH | {"STARTTLS", "LOGINDISABLED"}  # RFC 9051 6.2.3: no AUTH=
    imap.starttls(srv.client_tls())
    assert set(imap.capabilities) == PRE_AUTH | {"AUTH=SCRAM-SHA-256", "AUTH=PLAIN", "AUTH=LOGIN"}
    typ, data = imap.login(ADDRESS, PASSWORD)
    assert typ == "OK"
    assert b"[CAPABILITY " in data[0]
    _typ, caps_after = imap.capability()
    after = set(caps_after[0].decode().split())
    for name in ("MOVE", "UIDPLUS", "UNSELECT", "NAMESPACE", "SPECIAL-USE", "LIST-STATUS",
                 "STATUS=SIZE", "UTF8=ACCEPT", "QUOTA", "QUOTA=RES-STORAGE", "IDLE",
                 "APPENDLIMIT=52428800", "LIST-EXTENDED", "CREATE-SPECIAL-USE", "CHILDREN"):
        assert name in after
    assert not after & {"STARTTLS", "LOGINDISABLED", "AUTH=PLAIN"}
    assert {n.upper() for n in after} == PRE_AUTH
    imap.logout()


def test_implicit_tls_greeting_offers_auth(srv: ServerThread) -> None:
    client = RawImap(srv.port("imaps"), tls=srv.client_tls())
    assert b"AUTH=PLAIN" in client.greeting
    assert b"STARTTLS" not in client.greeting
    assert b"LOGINDISABLED" not in client.greeting
    assert client.login()[-1].startswith(b"li OK [CAPABILITY IMAP4rev1")
    assert client.cmd("a", "STARTTLS")[-1].startswith(b"a BAD")  # not in authenticated state
    client.close()


def test_login_refused_before_tls(srv: ServerThread) -> None:
    client = RawImap(srv.port("imap"))
    assert client.login()[-1] == b"li NO [PRIVACYREQUIRED] Login only after STARTTLS"
    lines = client.cmd("a", "AUTHENTICATE PLAIN")
    assert lines[-1].startswith(b"a NO [PRIVACYREQUIRED]")
    client.close()


def test_plaintext_login_on_loopback_when_allowed(loopback_server: ServerThread) -> None:
    loopback_server.add_user(ADDRESS)
    imap = imaplib.IMAP4("127.0.0.1", loopback_server.port("imap"))
    assert "LOGINDISABLED" not in imap.capabilities
    assert "STARTTLS" in imap.capabilities
    assert imap.login(ADDRESS, PASSWORD)[0] == "OK"
    imap.logout()


def test_wrong_password(srv: ServerThread) -> None:
    imap = imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"), ssl_context=srv.client_tls())
    with pytest.raises(imaplib.IMAP4.error, match=r"AUTHENTICATIONFAILED"):
        imap.login(ADDRESS, "wrong")
    assert imap.login(ADDRESS, PASSWORD)[0] == "OK"  # the session goes on
    imap.logout()


def _plain(user: str = ADDRESS, password: str = PASSWORD) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def test_authenticate_plain_with_and_without_initial_response(srv: ServerThread) -> None:
    client = RawImap(srv.port("imaps"), tls=srv.client_tls())
    assert client.cmd("a", f"AUTHENTICATE PLAIN {_plain()}")[-1].startswith(b"a OK")
    client.close()
    client = RawImap(srv.port("imaps"), tls=srv.client_tls())
    client.send(b"b AUTHENTICATE PLAIN\r\n")
    assert client.readline() == b"+ "
    client.send(_plain().encode() + b"\r\n")
    assert client.read_until_tag(b"b")[-1].startswith(b"b OK [CAPABILITY")
    client.close()


def test_authenticate_with_imaplib_and_login_mechanism(srv: ServerThread) -> None:
    imap = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    imap.starttls(srv.client_tls())
    typ, _ = imap.authenticate("PLAIN", lambda _c: f"\0{ADDRESS}\0{PASSWORD}".encode())
    assert typ == "OK"
    imap.logout()
    client = RawImap(srv.port("imaps"), tls=srv.client_tls())
    client.send(b"c AUTHENTICATE LOGIN\r\n")
    assert client.readline() == b"+ " + base64.b64encode(b"Username:")
    client.send(base64.b64encode(ADDRESS.encode()) + b"\r\n")
    assert client.readline() == b"+ " + base64.b64encode(b"Password:")
    client.send(base64.b64encode(PASSWORD.encode()) + b"\r\n")
    assert client.read_until_tag(b"c")[-1].startswith(b"c OK")
    client.close()


def test_authenticate_cancel_and_bad_password(srv: ServerThread) -> None:
    client = RawImap(srv.port("imaps"), tls=srv.client_tls())
    client.send(b"a AUTHENTICATE PLAIN\r\n")
    assert client.readline() == b"+ "
    client.send(b"*\r\n")
    assert client.read_until_tag(b"a")[-1] == b"a BAD Authentication cancelled"
    lines = client.cmd("b", f"AUTHENTICATE PLAIN {_plain(password='nope')}")
    assert lines[-1].startswith(b"b NO [AUTHENTICATIONFAILED]")
    assert client.cmd("c", "AUTHENTICATE FOO")[-1].startswith(b"c NO")
    client.close()


def test_authenticate_bad_base64_malformed_and_overlong_responses(srv: ServerThread) -> None:
    """Decided by the SASL exchange now: the reader and the parser hand the text over as
    sent (the parser still refuses characters that are never base64)."""
    client = RawImap(srv.port("imaps"), tls=srv.client_tls())
    lines = client.cmd("a", "AUTHENTICATE PLAIN AGJ")  # bad padding
    assert lines[-1] == b"a BAD Invalid base64 in initial response"
    client.send(b"b AUTHENTICATE PLAIN\r\n")
    assert client.readline() == b"+ "
    client.send(b"not base64!\r\n")
    assert client.read_until_tag(b"b")[-1] == b"b BAD Invalid base64 in response"
    lines = client.cmd("c", "AUTHENTICATE PLAIN =")
    assert lines[-1] == b"c BAD Malformed response: PLAIN message needs exactly two NULs"
    client.send(b"d AUTHENTICATE PLAIN\r\n")
    assert client.readline() == b"+ "
    client.send(b"A" * 70_000 + b"\r\n")
    assert client.read_until_tag(b"d")[-1] == b"d BAD Line too long"
    assert client.cmd("e", f"AUTHENTICATE PLAIN {_plain()}")[-1].startswith(b"e OK")
    client.close()


def test_imapclient_enable_id_namespace(srv: ServerThread) -> None:
    with IMAPClient("127.0.0.1", port=srv.port("imaps"), ssl=True,
                    ssl_context=srv.client_tls()) as client:
        client.login(ADDRESS, PASSWORD)
        assert client.id_({"name": "pytest"}) == ((b"name", b"posthouse",
                                                   b"version", b"0.1.0"),)
        ns = client.namespace()
        assert ns.personal == (("", "/"),)
        assert ns.other is None
        assert client.enable("IMAP4rev2", "X-UNKNOWN") == [b"IMAP4rev2"]
        assert client.enable("IMAP4rev2") == []  # already on: not reported again
        assert client.noop()[0] == b"NOOP completed"
        client.logout()


def test_enable_only_in_authenticated_state(srv: ServerThread) -> None:
    client = tls_client(srv)
    assert client.cmd("a", "ENABLE UTF8=ACCEPT") == [b"* ENABLED UTF8=ACCEPT",
                                                   b"a OK ENABLE completed"]
    client.cmd("b", "SELECT INBOX")
    assert client.cmd("c", "ENABLE IMAP4rev2")[-1].startswith(b"c BAD")
    client.close()


def test_bad_input_gets_bad_and_the_session_goes_on(srv: ServerThread) -> None:
    client = tls_client(srv)
    assert client.cmd("a", "FROBNICATE")[-1] == b"a BAD Unknown command FROBNICATE"
    assert client.cmd("b", "SELECT")[-1].startswith(b"b BAD")
    assert client.cmd("c", "FETCH 1 FLAGS")[-1] == b"c BAD FETCH not allowed now"
    client.send(b"d NOOP " + b"x" * 70_000 + b"\r\n")
    assert client.readline() == b"d BAD Line too long"
    assert client.cmd("e", "NOOP")[-1] == b"e OK NOOP completed"
    client.close()


def test_oversize_literal_is_refused_before_it_is_sent(srv: ServerThread) -> None:
    client = tls_client(srv)
    client.send(b"a APPEND INBOX {52428801}\r\n")
    assert client.readline() == b"a NO [TOOBIG] Literal too big"
    client.send(b"b LOGIN {99999}\r\n")  # a big literal for another command
    assert client.readline() == b"b NO [TOOBIG] Literal too big"
    assert client.cmd("c", "NOOP")[-1] == b"c OK NOOP completed"
    client.close()


def test_small_literal_before_login(srv: ServerThread) -> None:
    client = RawImap(srv.port("imaps"), tls=srv.client_tls())
    client.send(b"a LOGIN {%d}\r\n" % len(ADDRESS))
    assert client.readline() == b"+ Ready"
    client.send(ADDRESS.encode() + b" {%d+}\r\n" % len(PASSWORD) + PASSWORD.encode() + b"\r\n")
    assert client.read_until_tag(b"a")[-1].startswith(b"a OK")
    client.close()
    client = RawImap(srv.port("imaps"), tls=srv.client_tls())
    client.send(b"b LOGIN {100000}\r\n")  # before login only small literals
    assert client.readline() == b"b NO [TOOBIG] Literal too big"
    client.close()


def test_too_many_bad_commands_end_the_session(srv: ServerThread) -> None:
    client = RawImap(srv.port("imaps"), tls=srv.client_tls())
    client.send(b"".join(b"t%d XYZZY\r\n" % i for i in range(12)))
    lines = [client.readline() for _ in range(11)]
    assert lines[-1] == b"* BYE [CLIENTBUG] Too many invalid commands"
    with pytest.raises(ConnectionError):
        client.readline()
    client.close()


def test_logout_and_commands_in_wrong_state(srv: ServerThread) -> None:
    client = RawImap(srv.port("imaps"), tls=srv.client_tls())
    assert client.cmd("a", "SELECT INBOX")[-1] == b"a BAD SELECT not allowed now"
    assert client.cmd("b", "CAPABILITY")[0].startswith(b"* CAPABILITY IMAP4rev1")
    assert client.cmd("c", "LOGOUT") == [b"* BYE posthouse logging out",
                                         b"c OK LOGOUT completed"]
    with pytest.raises(ConnectionError):
        client.readline()
    client.close()


def test_nonsync_literal_too_big_is_skipped(srv: ServerThread) -> None:
    with tls_client(srv) as client:
        client.send(b"a LOGIN {100000+}\r\n" + b"z" * 100_000 + b" x\r\nb NOOP\r\n")
        assert client.readline() == b"a BAD [TOOBIG] Literal too big"
        assert client.read_until_tag(b"b") == [b"b OK NOOP completed"]


async def _broken(
    ctx: HandlerContext, tag: str, cmd: c.NamespaceCommand
) -> AsyncIterator[Response]:
    raise RuntimeError("boom")
    yield  # an async generator, like every handler


def test_unexpected_error_is_serverbug_and_the_session_goes_on(
    srv: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(HANDLERS, c.NamespaceCommand, _broken)
    with tls_client(srv) as client:
        assert client.cmd("a", "NAMESPACE") == [b"a NO [SERVERBUG] Internal server error"]
        assert client.cmd("b", "NOOP") == [b"b OK NOOP completed"]


def test_state_moves_only_as_imap_states_says(
    srv: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    """The real session's transitions (RFC 9051 3): the state gate follows
    imap.states.next_state, a BAD leaves the state alone, a failed SELECT leaves nothing
    selected, CLOSE and UNSELECT go back to authenticated; the handlers' data always agrees."""
    caplog.set_level(logging.ERROR, logger="posthouse.imap")
    with tls_client(srv) as client:
        assert client.cmd("a1", "FETCH 1 FLAGS")[-1].startswith(b"a1 BAD")  # authenticated
        assert client.cmd("a2", "SELECT INBOX")[-1].startswith(b"a2 OK")
        assert client.cmd("a3", "NOOP")[-1].startswith(b"a3 OK")
        # Refused with BAD by the handler: not accepted, INBOX stays selected.
        assert client.cmd("a4", "SELECT INBOX (QRESYNC (1 1))")[-1].startswith(b"a4 BAD")
        assert client.cmd("a5", "CHECK")[-1].startswith(b"a5 OK")
        # RFC 9051 6.3.2: a failed SELECT leaves no mailbox selected.
        assert client.cmd("a6", "SELECT Nowhere")[-1].startswith(b"a6 NO")
        assert client.cmd("a7", "CHECK")[-1].startswith(b"a7 BAD")
        assert client.cmd("a8", "EXAMINE INBOX")[-1].startswith(b"a8 OK")
        assert client.cmd("a9", "UNSELECT")[-1].startswith(b"a9 OK")
        assert client.cmd("b1", "CHECK")[-1].startswith(b"b1 BAD")
        assert client.cmd("b2", "SELECT INBOX")[-1].startswith(b"b2 OK")
        assert client.cmd("b3", "CLOSE")[-1].startswith(b"b3 OK")
        assert client.cmd("b4", "CLOSE")[-1].startswith(b"b4 BAD")
        assert client.cmd("b5", "LOGOUT")[-1].startswith(b"b5 OK")
    assert not [r for r in caplog.records if "does not match" in r.getMessage()]
