"""IDLE (RFC 2177) and the session's timers: updates from the store reach an idling session
at once; shutdown and autologout end sessions with BYE."""

from __future__ import annotations

import dataclasses
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient

from posthouse.store.models import FlagOp
from tests.support.imap import ADDRESS, deliver, tls_client
from tests.support.server import PASSWORD, ServerThread, make_config


@pytest.fixture
def srv(server: ServerThread) -> ServerThread:
    server.add_user(ADDRESS)
    return server


def _inbox_id(srv: ServerThread) -> int:
    user = srv.call(srv.store.get_user(ADDRESS))
    return int(srv.call(srv.store.get_mailbox(user.id, "INBOX")).id)


def test_idle_sees_delivery_at_once(srv: ServerThread) -> None:
    idler = tls_client(srv)
    idler.cmd("a", "SELECT INBOX")
    idler.send(b"b IDLE\r\n")
    assert idler.readline() == b"+ idling"
    deliver(srv)  # through the store, as SMTP delivery does; the socket timeout is 10 s
    assert idler.readline() == b"* 1 EXISTS"
    assert idler.readline() == b"* 1 RECENT"  # rev1: this session is the first to see it
    idler.send(b"DONE\r\n")
    assert idler.read_until_tag(b"b") == [b"b OK IDLE terminated"]
    idler.close()


def test_idle_sees_other_sessions_flags_and_expunges(srv: ServerThread) -> None:
    deliver(srv)
    deliver(srv)
    idler = tls_client(srv)
    idler.cmd("e", "ENABLE IMAP4rev2")
    idler.cmd("a", "SELECT INBOX")
    idler.send(b"b IDLE\r\n")
    assert idler.readline() == b"+ idling"
    box = _inbox_id(srv)
    srv.call(srv.store.store_flags(box, [1], FlagOp.ADD, frozenset({"\\Deleted"}),
                                   origin="other"))
    assert idler.readline() == b"* 1 FETCH (UID 1 FLAGS (\\Deleted))"
    srv.call(srv.store.expunge(box, origin="other"))
    assert idler.readline() == b"* 1 EXPUNGE"
    idler.send(b"DONE\r\n")
    assert idler.read_until_tag(b"b") == [b"b OK IDLE terminated"]
    assert idler.cmd("c", "NOOP") == [b"c OK NOOP completed"]
    idler.close()


def test_two_sessions_with_imapclient(srv: ServerThread) -> None:
    with IMAPClient("127.0.0.1", port=srv.port("imaps"), ssl=True,
                    ssl_context=srv.client_tls(), timeout=10) as idler:
        idler.login(ADDRESS, PASSWORD)
        idler.select_folder("INBOX")
        idler.idle()
        other = tls_client(srv)
        other.cmd("x", "SELECT INBOX")
        deliver(srv)
        responses = idler.idle_check(timeout=10)
        assert (1, b"EXISTS") in responses
        idler.idle_done()
        other.cmd("y", "LOGOUT")
        other.close()
        idler.logout()


def test_idle_without_selected_mailbox_and_bad_done(srv: ServerThread) -> None:
    client = tls_client(srv)
    client.send(b"a IDLE\r\n")
    assert client.readline() == b"+ idling"
    deliver(srv)  # no mailbox selected: nothing to report
    client.send(b"NOT DONE\r\n")
    assert client.read_until_tag(b"a") == [b"a BAD Expected DONE"]
    assert client.cmd("b", "NOOP") == [b"b OK NOOP completed"]
    client.close()


def test_idle_pipelined_done(srv: ServerThread) -> None:
    client = tls_client(srv)
    client.cmd("a", "SELECT INBOX")
    client.send(b"b IDLE\r\nDONE\r\nc NOOP\r\n")
    assert client.read_until_tag(b"c") == [b"+ idling", b"b OK IDLE terminated",
                                           b"c OK NOOP completed"]
    client.close()


def _shutdown(srv: ServerThread) -> None:
    assert srv.app.listeners is not None
    srv.loop.call_soon_threadsafe(srv.app.listeners.shutting_down.set)


def test_shutdown_says_bye_in_idle_and_between_commands(srv: ServerThread) -> None:
    idler = tls_client(srv)
    idler.cmd("a", "SELECT INBOX")
    idler.send(b"b IDLE\r\n")
    assert idler.readline() == b"+ idling"
    waiting = tls_client(srv)
    _shutdown(srv)
    assert idler.readline() == b"* BYE [UNAVAILABLE] Server shutting down"
    assert waiting.readline() == b"* BYE [UNAVAILABLE] Server shutting down"
    idler.close()
    waiting.close()


@pytest.fixture
def impatient(tmp_path: Path) -> Iterator[ServerThread]:
    cfg = make_config(tmp_path / "data")
    limits = dataclasses.replace(cfg.limits, imap_idle_seconds=1, imap_idle_command_seconds=2)
    srv = ServerThread(dataclasses.replace(cfg, limits=limits)).start()
    srv.add_user(ADDRESS)
    try:
        yield srv
    finally:
        srv.stop()


def test_autologout(impatient: ServerThread) -> None:
    client = tls_client(impatient)
    assert client.readline() == b"* BYE Autologout: idle for too long"
    client.close()
    idler = tls_client(impatient)
    idler.send(b"a IDLE\r\n")
    assert idler.readline() == b"+ idling"
    assert idler.readline() == b"* BYE Autologout: idle for too long"  # after 2 s in IDLE
    idler.close()


def test_idle_sees_an_smtp_delivery(srv: ServerThread) -> None:
    """A message arriving over SMTP on port 25 reaches an IDLE session at once."""
    idler = tls_client(srv)
    idler.cmd("a", "SELECT INBOX")
    idler.send(b"b IDLE\r\n")
    assert idler.readline() == b"+ idling"
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=10) as smtp:
        smtp.sendmail("someone@remote.example", [ADDRESS],
                      b"Subject: over smtp\r\n\r\nhello\r\n")
    assert idler.readline() == b"* 1 EXISTS"
    assert idler.readline() == b"* 1 RECENT"
    idler.send(b"DONE\r\n")
    assert idler.read_until_tag(b"b") == [b"b OK IDLE terminated"]
    fetched = idler.cmd("c", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"Subject: over smtp" in b"".join(fetched)
    idler.close()
