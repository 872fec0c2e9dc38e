"""Helpers shared by the test_smtp_* modules: a scripted adapter that drives SmtpServerConnection.

The adapter answers every event the way a permissive server would, so a test states only the
input and looks at the events and the bytes written back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from posthouse.sasl import Challenge
from posthouse.sasl.events import AuthResponse, AuthStart
from posthouse.smtp import replies
from posthouse.smtp.config import SmtpConfig
from posthouse.smtp.connection import SmtpServerConnection
from posthouse.smtp.events import (
    BdatChunk,
    DataStart,
    Expn,
    Helo,
    Help,
    MessageComplete,
    Quit,
    Rejected,
    SmtpEvent,
    StartTLS,
    Vrfy,
)
from posthouse.smtp.replies import Reply
from posthouse.wire.events import Closed, NeedData

CONFIG = SmtpConfig(
    "mx.example.org", starttls=True, auth=True, auth_requires_tls=False,
    max_message_size=10_000,
)

Answer = Callable[[SmtpServerConnection, SmtpEvent], Reply]


def auto_reply(conn: SmtpServerConnection, event: SmtpEvent) -> Reply:
    """The reply a permissive server gives to ``event``."""
    if isinstance(event, Helo):
        return conn.ehlo_reply()
    if isinstance(event, Rejected):
        return event.reply
    if isinstance(event, DataStart):
        return replies.start_mail_input()
    if isinstance(event, StartTLS):
        return replies.ready_to_start_tls()
    if isinstance(event, AuthStart):
        return replies.auth_challenge(Challenge(b"")) if event.initial is None \
            else replies.auth_succeeded()
    if isinstance(event, AuthResponse):
        return replies.auth_succeeded()
    if isinstance(event, Quit):
        return replies.closing("mx.example.org")
    if isinstance(event, Vrfy | Expn):
        return replies.cannot_verify()
    if isinstance(event, Help):
        return replies.help_text()
    if isinstance(event, BdatChunk):
        return replies.chunk_received(event.size)
    if isinstance(event, MessageComplete):
        return replies.message_accepted("Q1")
    return replies.ok()


def no_tls_reply(conn: SmtpServerConnection, event: SmtpEvent) -> Reply:
    """Like auto_reply, but STARTTLS is refused (so the input stays one plaintext stream)."""
    if isinstance(event, StartTLS):
        return replies.tls_not_available()
    return auto_reply(conn, event)


@dataclass
class Transcript:
    """Everything a run produced."""

    events: list[SmtpEvent] = field(default_factory=list)
    output: bytearray = field(default_factory=bytearray)

    @property
    def codes(self) -> list[int]:
        """The reply codes written, in order."""
        return [int(line[:3]) for line in bytes(self.output).split(b"\r\n")
                if line[3:4] == b" "]

    def of(self, kind: type[SmtpEvent]) -> list[SmtpEvent]:
        """The events of one type."""
        return [e for e in self.events if isinstance(e, kind)]


def pump(conn: SmtpServerConnection, out: Transcript, answer: Answer = auto_reply) -> None:
    """Take events until NEED_DATA or Closed, answering each one."""
    while True:
        event = conn.next_event()
        if isinstance(event, NeedData):
            return
        out.events.append(event)
        if isinstance(event, Closed):
            return
        reply = answer(conn, event)
        out.output += conn.send(reply)
        if isinstance(event, StartTLS) and reply.code == 220:
            conn.start_tls()


def run(conn: SmtpServerConnection, chunks: Iterable[bytes], answer: Answer = auto_reply,
        *, eof: bool = False) -> Transcript:
    """Feed ``chunks`` one by one (empty ones skipped), pumping events after each."""
    out = Transcript()

    def closed() -> bool:
        return bool(out.events) and isinstance(out.events[-1], Closed)

    for chunk in chunks:
        if chunk:
            conn.receive_data(chunk)  # still fed after Closed: it must be ignored
        if not closed():
            pump(conn, out, answer)
    if eof:
        conn.receive_data(b"")
        if not closed():
            pump(conn, out, answer)
    return out


def feed(data: bytes, *, config: SmtpConfig = CONFIG, answer: Answer = auto_reply,
         tls_active: bool = False) -> tuple[SmtpServerConnection, Transcript]:
    """A fresh connection fed ``data`` in one read."""
    conn = SmtpServerConnection(config, tls_active=tls_active)
    return conn, run(conn, [data], answer)


def config(**changes: object) -> SmtpConfig:
    """CONFIG with some fields changed."""
    return replace(CONFIG, **changes)  # type: ignore[arg-type]


def bytewise(data: bytes) -> list[bytes]:
    """``data`` one octet at a time."""
    return [data[i : i + 1] for i in range(len(data))]


def test_auto_reply_runs_a_whole_session() -> None:
    conn, out = feed(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
                     b"DATA\r\nHi\r\n.\r\nQUIT\r\n")
    assert out.codes == [250, 250, 250, 354, 250, 221]
    assert isinstance(out.events[-2], Quit)
    assert isinstance(out.events[-1], Closed)
    assert conn.closed
