"""How a session adapter drives the sans-IO pieces: a tiny synchronous driver.

reader -> parser -> state gate -> (fake) handler -> encoder, with the view releasing
updates after each command. The real adapter (serve/imap.py) is async; the order of calls
is the same.
"""

from __future__ import annotations

from posthouse.imap import commands as c
from posthouse.imap import utf7
from posthouse.imap.connection import ImapConnection
from posthouse.imap.events import BadInput, IdleDone, NeedLiteral, RawCommand
from posthouse.imap.parser import parse_command
from posthouse.imap.replies import ParseError, error_response
from posthouse.imap.responses import (
    Continuation,
    Response,
    Status,
    Tagged,
    encode_response,
    exists,
)
from posthouse.imap.states import ImapState, allowed, may_expunge, next_state
from posthouse.imap.view import MailboxView
from posthouse.sasl.events import AuthResponse
from posthouse.store.errors import NoSuchMailbox
from posthouse.store.events import MessagesAdded, MessagesExpunged, StoreEvent
from posthouse.store.models import UidFlags
from posthouse.wire.events import NEED_DATA


class Driver:
    """Feeds bytes in, collects bytes out; handlers are stubs."""

    def __init__(self) -> None:
        self.reader = ImapConnection(max_line=1000, max_literal=10_000)
        self.state = ImapState.NOT_AUTHENTICATED
        self.view: MailboxView | None = None
        self.out: list[bytes] = []
        self.events: list[StoreEvent] = []  # what the store subscription delivered
        self.idle_tag: str | None = None
        self.auth_tag: str | None = None

    def send(self, response: Response) -> None:
        self.out.append(encode_response(response))

    def receive(self, data: bytes) -> list[bytes]:
        self.out = []
        self.reader.receive_data(data)
        while (event := self.reader.next_event()) is not NEED_DATA:
            if isinstance(event, NeedLiteral):
                self.reader.accept_literal()
                if not event.nonsync:
                    self.send(Continuation())
            elif isinstance(event, BadInput):
                self.send(event.response())
            elif isinstance(event, IdleDone):
                self.finish_idle(event)
            elif isinstance(event, AuthResponse):
                assert self.auth_tag is not None
                ok = event.line == b"AGJvYgBwdw=="  # raw: the mechanism decodes
                self.complete(self.auth_tag, c.AuthenticateCommand("PLAIN"), ok)
            elif isinstance(event, RawCommand):
                self.command(event)
        return self.out

    def command(self, raw: RawCommand) -> None:
        try:
            cmd = parse_command(raw, utf8=False)
        except ParseError as exc:
            self.send(exc.response(raw.tag))
            return
        if not allowed(cmd, self.state):
            self.send(Tagged(raw.tag, Status.BAD, f"{cmd.NAME} not allowed now"))
            return
        self.handle(raw.tag, cmd)

    def handle(self, tag: str, cmd: c.ImapCommand) -> None:
        if isinstance(cmd, c.AuthenticateCommand) and cmd.initial_response is None:
            self.auth_tag = tag
            self.send(Continuation(""))
            self.reader.expect_auth_line()
            return
        if isinstance(cmd, c.StartTLSCommand):
            self.send(Tagged(tag, Status.OK, "Begin TLS"))
            self.reader.discard_buffered()  # RFC 9051 6.2.1: no pre-TLS injection
            return
        if isinstance(cmd, c.IdleCommand):
            self.idle_tag = tag
            self.send(Continuation("idling"))
            self.reader.expect_idle_done()
            self.release(cmd)
            return
        if isinstance(cmd, c.SelectCommand):
            if cmd.mailbox != "INBOX":
                response = error_response(tag, NoSuchMailbox())
                assert response is not None
                self.send(response)
                self.state = next_state(cmd, self.state, ok=False)
                return
            self.view = MailboxView([UidFlags(u, 1, frozenset()) for u in (1, 2, 3)],
                                    mailbox_id=1, origin=self, rev2=True)
            self.send(exists(self.view.exists))
        if isinstance(cmd, c.AppendCommand):
            assert cmd.data == b"Hi!\r\n"
        self.complete(tag, cmd, True)

    def release(self, cmd: c.ImapCommand) -> None:
        """Apply drained events and send what the command allows (before its tagged OK)."""
        if self.view is None:
            return
        for event in self.events:
            self.view.apply(event)
        self.events.clear()
        for update in self.view.flush(allow_expunge=may_expunge(cmd)):
            self.send(update)

    def finish_idle(self, done: IdleDone) -> None:
        assert self.idle_tag is not None
        status = Status.OK if done.ok else Status.BAD
        self.send(Tagged(self.idle_tag, status, "IDLE terminated"))
        self.idle_tag = None

    def complete(self, tag: str, cmd: c.ImapCommand, ok: bool) -> None:
        self.release(cmd)
        self.send(Tagged(tag, Status.OK if ok else Status.NO, f"{cmd.NAME} done"))
        self.state = next_state(cmd, self.state, ok=ok)


def test_session_flow() -> None:
    d = Driver()
    assert d.receive(b"a0 SELECT INBOX\r\n") == [b"a0 BAD SELECT not allowed now\r\n"]
    assert d.receive(b"a1 STARTTLS\r\ninjected NOOP\r\n") == [b"a1 OK Begin TLS\r\n"]
    assert d.receive(b"a2 AUTHENTICATE PLAIN\r\n") == [b"+ \r\n"]
    assert d.receive(b"AGJvYgBwdw==\r\n") == [b"a2 OK AUTHENTICATE done\r\n"]
    assert d.state is ImapState.AUTHENTICATED
    assert d.receive(b"a3 SELECT Nope\r\n") == [b"a3 NO [NONEXISTENT] No such mailbox\r\n"]
    assert d.receive(b"a4 SELECT inbox\r\n") == [b"* 3 EXISTS\r\n", b"a4 OK SELECT done\r\n"]
    assert d.receive(b"a5 APPEND INBOX {5}\r\n") == [b"+ Ready\r\n"]
    assert d.receive(b"Hi!\r\n\r\n") == [b"a5 OK APPEND done\r\n"]
    # another session expunged message 2 and delivered uid 4
    d.events += [MessagesExpunged(1, 1, (2,), 9), MessagesAdded(1, 1, (4,), 10)]
    assert d.receive(b"a6 FETCH 1 FLAGS\r\n") == [b"* 4 EXISTS\r\n", b"a6 OK FETCH done\r\n"]
    assert d.receive(b"a7 IDLE\r\n") == [b"+ idling\r\n", b"* 2 EXPUNGE\r\n"]
    assert d.receive(b"DONE\r\n") == [b"a7 OK IDLE terminated\r\n"]
    assert d.receive(b"a8 FROB\r\n") == [b"a8 BAD Unknown command FROB\r\n"]
    assert d.receive(b"+ x\r\n") == [b"* BAD Missing or invalid tag\r\n"]
    assert d.receive(b"a9 LOGOUT\r\n") == [b"a9 OK LOGOUT done\r\n"]
    assert d.state.value == "logout"


def test_handler_side_view_calls() -> None:
    """EXPUNGE/MOVE and APPEND/COPY into the selected mailbox report through the view."""
    view = MailboxView([UidFlags(u, 1, frozenset()) for u in (5, 6, 7)], mailbox_id=1,
                       origin="me", rev2=True)
    view.note_expunged([6, 7])  # what store.expunge returned
    view.note_added([8])  # an APPEND into the selected mailbox
    out = [encode_response(r) for r in view.flush(allow_expunge=True)]
    assert out == [b"* 2 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n", b"* 2 EXISTS\r\n"]
    view.apply(MessagesExpunged(1, 1, (6, 7), 3, origin="me"))  # own event, drained later
    view.apply(MessagesAdded(1, 1, (8,), 4, origin="me"))
    assert view.flush(allow_expunge=True) == []
    assert utf7.encode_mailbox("Entwürfe", utf8=False) == "Entw&APw-rfe"
    assert utf7.encode_mailbox("Entwürfe", utf8=True) == "Entwürfe"
