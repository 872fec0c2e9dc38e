"""RFC 5465 NOTIFY over real sockets, in IMAP4rev1 and IMAP4rev2: STATUS for other
mailboxes on SMTP delivery, APPEND, flag changes and expunges from another session
(HIGHESTMODSEQ with CONDSTORE), the selected mailbox's MessageNew with fetch attributes,
SELECTED and SELECTED-DELAYED expunges, MailboxName, SubscriptionChange and METADATA
changes, the STATUS option, NONE, the session's own changes, BADEVENT and the other
refusals, and NOTIFICATIONOVERFLOW.

Notifications between commands are read straight off the socket; that nothing else came
is shown by a later command's answer (no wall-clock waits)."""

from __future__ import annotations

import dataclasses
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.imap_msg_support import USER, Connections, RawImap, status
from tests.support.server import ServerThread, make_config

MODES = ["rev1", "rev2"]
MESSAGE = b"Subject: hello\r\nFrom: a@example.test\r\n\r\nbody\r\n"


@pytest.fixture
def conns(server: ServerThread) -> Iterator[Connections]:
    server.add_user(USER)
    opened = Connections(server)
    yield opened
    opened.close_all()


def _open(conns: Connections, mode: str, *extra: str) -> RawImap:
    raw = conns.raw(USER)
    names = (["IMAP4rev2"] if mode == "rev2" else []) + list(extra)
    if names:
        raw.ok("ENABLE " + " ".join(names))
    return raw


def _lines(responses: list[bytes]) -> list[bytes]:
    return [line.rstrip(b"\r\n") for line in responses]


def _next(raw: RawImap) -> bytes:
    """The next response the server sends unasked."""
    return raw.response().rstrip(b"\r\n")


def _append(raw: RawImap, mailbox: str, data: bytes = MESSAGE) -> None:
    raw.ok(b'APPEND "%s" {%d+}\r\n%s' % (mailbox.encode(), len(data), data))


def _smtp(server: ServerThread, data: bytes = MESSAGE) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as smtp:
        smtp.sendmail("someone@remote.example", [USER], data)


def _uidvalidity(raw: RawImap, mailbox: str) -> int:
    line = _lines(raw.ok(f'STATUS "{mailbox}" (UIDVALIDITY)'))[0]
    return int(line.rsplit(b" ", 1)[1].rstrip(b")"))


@pytest.mark.parametrize("mode", MODES)
def test_capability_before_and_after_login(conns: Connections, mode: str) -> None:
    anon = conns.raw(None)
    assert b" NOTIFY " in anon.greeting
    raw = _open(conns, mode)
    assert b"NOTIFY" in _lines(raw.ok("CAPABILITY"))[0].split()


@pytest.mark.parametrize("mode", MODES)
def test_status_on_smtp_delivery_to_an_unselected_inbox(conns: Connections,
                                                        mode: str) -> None:
    watcher = _open(conns, mode)
    uidvalidity = _uidvalidity(watcher, "INBOX")
    assert _lines(watcher.ok("NOTIFY SET (inboxes (MessageNew MessageExpunge))")) == []
    _smtp(conns.server)
    assert _next(watcher) == (b'* STATUS "INBOX" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY %d'
                              b' UNSEEN 1)' % uidvalidity)
