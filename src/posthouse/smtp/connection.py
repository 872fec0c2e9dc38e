"""The sans-IO SMTP server connection: bytes in, events out; replies in, bytes out.

Driving it (the IO adapter)::

    conn = SmtpServerConnection(config)
    write(conn.greeting())
    while True:
        event = conn.next_event()
        if isinstance(event, NeedData):
            flush(); conn.receive_data(read())      # b"" at EOF
            continue
        if isinstance(event, Closed):
            break
        reply = decide(event)                       # Rejected: send event.reply
        write(conn.send(reply))                     # exactly one reply per event
        if isinstance(event, StartTLS) and reply.code == 220:
            flush(); conn.start_tls(); <TLS handshake>

- DATA: DataStart -> send 354 (or 4xx/5xx); the content then comes back as one
  MessageComplete(via="DATA"), or a Rejected (552 too big, 550 bare CR/LF).
- BDAT: each non-LAST chunk is a BdatChunk(size) to answer 250 (anything else fails the
  transaction); the LAST chunk comes as MessageComplete(via="BDAT") with all chunks joined.
- AUTH: AuthStart -> send 334 challenges (replies.auth_challenge), each answer comes as an
  AuthResponse (sasl.events), raw: the SASL mechanism decodes base64 and sees "*"; 235 ends
  the exchange successfully, 4xx/5xx unsuccessfully.
- STARTTLS: StartTLS -> send 220, then call start_tls() before the handshake.

Rules enforced here: commands in sequence (states.py), one reply per event (otherwise
LocalProtocolError), the phase moves only on a 2xx (3xx for DATA/AUTH/STARTTLS) reply, data
mode starts only after a 354 goes out through ``send``. Enhanced status codes (RFC 2034) are
written only after an EHLO and when enabled (a reply without one gets "class.0.0"); HELO
clients and replies before EHLO get none, nor do replies to HELO/EHLO themselves or 3xx.

Command lines must end in CRLF: a line ended by a bare LF is refused with 500 5.5.2 (RFC
5321 2.3.8), so nothing reaches the session through a line ending another server might read
differently.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from posthouse.sasl.events import AuthResponse, AuthStart, SaslEvent
from posthouse.smtp import replies
from posthouse.smtp.config import SmtpConfig
from posthouse.smtp.data import ChunkReader, DataReader
from posthouse.smtp.events import (
    BdatChunk,
    DataStart,
    Helo,
    MessageComplete,
    Quit,
    Rejected,
    SmtpEvent,
    StartTLS,
)
from posthouse.smtp.params import MailParams
from posthouse.smtp.parser import PARSERS, ParseContext, parse_bdat, split_command
from posthouse.smtp.replies import Reply
from posthouse.smtp.states import Phase, SmtpState, refusal
from posthouse.wire import LineBuffer, LineTooLong, LocalProtocolError
from posthouse.wire.events import NEED_DATA, Closed, NeedData

__all__ = ["SmtpServerConnection"]


class Mode(enum.Enum):
    """How the server core reads its input."""

    COMMAND = "command"  # CRLF-terminated command lines
    AUTH = "auth"  # CRLF-terminated SASL responses (after a 334)
    DATA = "data"  # message content up to <CRLF>.<CRLF> (after a 354)
    CHUNK = "chunk"  # the octets of a BDAT chunk
    TLS_PENDING = "tls-pending"  # 220 to STARTTLS sent; waiting for start_tls()
    CLOSED = "closed"


@dataclass(frozen=True)
class BdatCommand:
    """A syntactically valid BDAT: its octets must be read, then ``refusal`` (if any) sent."""

    size: int
    last: bool
    refusal: Reply | None


class SmtpServerConnection:
    """One SMTP server connection, as a state machine over bytes."""

    def __init__(self, config: SmtpConfig, *, tls_active: bool = False) -> None:
        self.config = config
        self._state = SmtpState(config, tls_active=tls_active)
        # The LineBuffer limit counts octets before the CRLF.
        self._buf = LineBuffer(config.max_line - 2)
        self._mode = Mode.COMMAND
        self._pending: SmtpEvent | SaslEvent | None = None
        self._eof = False
        self._data: DataReader | None = None
        self._chunk: ChunkReader | None = None
        self._chunk_last = False
        self._chunk_refusal: Reply | None = None

    # -- Read-only view for the adapter ----------------------------------------------------

    @property
    def phase(self) -> Phase:
        """Where the session stands (FRESH, GREETED, MAIL, RCPT, BDAT)."""
        return self._state.phase

    @property
    def reading_content(self) -> bool:
        """True while message content is read (DATA up to the final dot, a BDAT chunk's
        octets): the adapter paces that input by rate, not line by line."""
        return self._mode is Mode.DATA or self._mode is Mode.CHUNK

    @property
    def closed(self) -> bool:
        """True once the session is over."""
        return self._mode is Mode.CLOSED

    @property
    def tls_active(self) -> bool:
        """True on an implicit-TLS connection or after ``start_tls``."""
        return self._state.tls_active

    @property
    def authenticated(self) -> bool:
        """True after a 235 reply to AUTH."""
        return self._state.authenticated

    @property
    def extended(self) -> bool:
        """True when the client greeted with EHLO (ESMTP)."""
        return self._state.extended

    @property
    def sasl_mechanisms(self) -> tuple[str, ...]:
        """The SASL mechanisms offered now (empty where AUTH is not)."""
        return self._state.sasl_mechanisms()

    @property
    def mail_params(self) -> MailParams | None:
        """The parameters of the accepted MAIL of the current transaction."""
        return self._state.mail_params

    @property
    def recipients(self) -> int:
        """How many RCPT were accepted in the current transaction."""
        return self._state.recipients

    # -- Output ------------------------------------------------------------------------------

    def greeting(self, text: str = "ESMTP posthouse") -> bytes:
        """The 220 greeting (RFC 5321 4.3.1), written before anything is read."""
        return replies.greeting(self.config.hostname, text).render(enhanced=False)

    def ehlo_reply(self, *, extended: bool | None = None) -> Reply:
        """The 250 reply to EHLO with the capability list, or the one-line HELO reply.

        By default the kind follows the pending Helo event (EHLO when none is pending).
        """
        if extended is None:
            pending = self._pending
            extended = pending.extended if isinstance(pending, Helo) else True
        return self._state.ehlo_reply(extended=extended)

    def send(self, reply: Reply) -> bytes:
        """Render the reply to the pending event and apply its effect on the session.

        A 421 may also be sent with nothing pending (RFC 5321 3.8); it closes the session.
        """
        event = self._pending
        if event is None:
            if reply.code != 421 or self._mode is Mode.CLOSED:
                raise LocalProtocolError("no command is waiting for a reply")
            self._mode = Mode.CLOSED
            return self._render(reply)
        _check_reply(event, reply)
        out = reply.render(enhanced=False) if isinstance(event, Helo) else self._render(reply)
        self._pending = None
        self._apply(event, reply)
        return out

    def _render(self, reply: Reply) -> bytes:
        """RFC 2034: once in force, every 2xx/4xx/5xx reply carries an enhanced code; one
        the adapter left out becomes the generic "class.0.0"."""
        if not self._state.enhanced:
            return reply.render(enhanced=False)
        if reply.enhanced is None and not reply.is_intermediate:
            reply = replace(reply, enhanced=f"{reply.code // 100}.0.0")
        return reply.render(enhanced=True)

    def start_tls(self) -> None:
        """After the 220 to STARTTLS went out: forget everything (RFC 3207 4.2).

        Every byte received before the handshake is dropped, and the client must EHLO again.
        """
        if self._mode is not Mode.TLS_PENDING:
            raise LocalProtocolError("start_tls() is only valid after a 220 reply to STARTTLS")
        self._buf.discard()
        self._state.restart_after_tls()
        self._mode = Mode.COMMAND

    # -- Input -------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add received bytes; ``b""`` means the client closed its side."""
        if not data:
            self._eof = True
            return
        if self._eof:
            raise LocalProtocolError("data received after EOF")
        if self._mode in (Mode.CLOSED, Mode.TLS_PENDING):
            return  # ignored after QUIT; plaintext injected before the handshake (RFC 3207)
        self._buf.feed(data)

    def next_event(self) -> SmtpEvent | SaslEvent | NeedData | Closed:
        """The next event, NEED_DATA, or Closed (repeatedly) once the session is over."""
        if self._pending is not None:
            raise LocalProtocolError(f"reply to {type(self._pending).__name__} first")
        if self._mode is Mode.TLS_PENDING:
            raise LocalProtocolError("call start_tls() after the 220 reply to STARTTLS")
        if self._mode is Mode.CLOSED:
            return Closed()
        event = self._read()
        if isinstance(event, NeedData):
            if self._eof:
                self._mode = Mode.CLOSED
                return Closed()
            return event
        self._pending = event
        return event

    def _read(self) -> SmtpEvent | SaslEvent | NeedData:
        if self._mode is Mode.DATA:
            return self._read_data()
        if self._mode is Mode.CHUNK:
            return self._read_chunk()
        try:
            line = self._buf.next_line()
        except LineTooLong:
            return self._reject_line(replies.line_too_long())
        if line is None:
            return NEED_DATA
        if not self._buf.last_line_had_cr:
            return self._reject_line(replies.syntax_error("Line must end with CRLF"))
        if self._mode is Mode.AUTH:
            return self._auth_line(line)
        return self._command(line)

    def _reject_line(self, reply: Reply) -> Rejected:
        if self._mode is Mode.AUTH:  # a bad line ends the SASL exchange
            self._mode = Mode.COMMAND
        return Rejected(reply)

    def _command(self, line: bytes) -> SmtpEvent | SaslEvent | NeedData:
        verdict = self._parse_command(line)
        if isinstance(verdict, BdatCommand):  # read the chunk's octets before answering
            return self._start_chunk(verdict)
        return verdict

    def _auth_line(self, line: bytes) -> AuthResponse:
        """A client response during AUTH (RFC 4954 4), as sent: base64, or "*" to cancel."""
        return AuthResponse(line)

    # -- Command lines -----------------------------------------------------------------------

    def _parse_command(self, line: bytes) -> SmtpEvent | SaslEvent | BdatCommand:
        """Parse one command line and check it against the session."""
        split = split_command(line)
        if isinstance(split, Reply):
            return Rejected(split)
        verb, args = split
        if verb == "BDAT":
            bdat = parse_bdat(args)
            if isinstance(bdat, Reply):
                return Rejected(bdat)  # without a size the octets cannot be skipped
            return BdatCommand(bdat[0], bdat[1], refusal(self._state, verb))
        parser = PARSERS.get(verb)
        if parser is None:
            return Rejected(replies.unknown_command())
        refused = refusal(self._state, verb)
        if refused is not None:
            return Rejected(refused)
        state = self._state
        context = ParseContext(
            offered=state.offered(),
            smtputf8_tx=state.mail_params is not None and state.mail_params.smtputf8,
            mechanisms=state.sasl_mechanisms(),
        )
        result = parser(args, context)
        return Rejected(result) if isinstance(result, Reply) else result

    # -- DATA and BDAT -----------------------------------------------------------------------

    def _read_data(self) -> SmtpEvent | NeedData:
        reader = self._data
        assert reader is not None
        leftover = reader.feed(self._buf.take_all())
        if leftover is None:
            return NEED_DATA
        self._buf.feed(leftover)  # the buffer is empty here, so order is kept
        self._data = None
        self._mode = Mode.COMMAND
        if reader.bare_newline:
            self._state.end_transaction()
            return Rejected(replies.bare_newline())
        if reader.too_big:
            self._state.end_transaction()
            return Rejected(replies.message_too_big())
        return MessageComplete(reader.content, "DATA")

    def _start_chunk(self, bdat: BdatCommand) -> SmtpEvent | NeedData:
        """Every well-formed BDAT has its octets consumed, even when it is refused, so they
        can never be read as commands (RFC 3030 2)."""
        keep = bdat.refusal is None and self._state.chunk_fits(bdat.size)
        self._chunk = ChunkReader(bdat.size, keep=keep)
        self._chunk_last = bdat.last
        self._chunk_refusal = bdat.refusal
        self._mode = Mode.CHUNK
        return self._read_chunk()

    def _read_chunk(self) -> SmtpEvent | NeedData:
        chunk = self._chunk
        assert chunk is not None
        chunk.feed(self._buf.take(chunk.remaining))
        if not chunk.done:
            return NEED_DATA
        self._chunk = None
        self._mode = Mode.COMMAND
        if self._chunk_refusal is not None:
            return Rejected(self._chunk_refusal)
        if not chunk.keep:
            self._state.end_transaction()  # over the size limit: the transaction failed
            return Rejected(replies.message_too_big())
        self._state.add_chunk(chunk.data)
        if self._chunk_last:
            return MessageComplete(self._state.take_chunks(), "BDAT")
        return BdatChunk(len(chunk.data))

    # -- Effects of replies ------------------------------------------------------------------

    def _apply(self, event: SmtpEvent | SaslEvent, reply: Reply) -> None:
        if reply.code == 421 or isinstance(event, Quit):
            self._mode = Mode.CLOSED
        elif isinstance(event, StartTLS):
            if reply.code == 220:
                self._buf.discard()  # RFC 3207 4.2: nothing pipelined after STARTTLS counts
                self._mode = Mode.TLS_PENDING
        elif isinstance(event, DataStart):
            if reply.code == 354:
                self._data = DataReader(self.config.max_message_size)
                self._mode = Mode.DATA
        elif isinstance(event, AuthStart | AuthResponse):
            self._mode = Mode.AUTH if reply.code == 334 else Mode.COMMAND
            if reply.code == 235:
                self._state.authenticated = True
        else:
            self._state.apply(event, reply)


def _check_reply(event: SmtpEvent | SaslEvent, reply: Reply) -> None:
    """Refuse replies that cannot answer ``event`` (a bug in the adapter)."""
    code = reply.code
    if code == 421:
        return
    if isinstance(event, AuthStart | AuthResponse):
        ok = code in (235, 334) or code >= 400
    elif isinstance(event, DataStart):
        ok = code == 354 or code >= 400
    elif isinstance(event, StartTLS):
        ok = code == 220 or code >= 400
    elif isinstance(event, Rejected):
        ok = code >= 400
    else:
        ok = not 300 <= code < 400 and code not in (220, 235)
    if not ok:
        raise LocalProtocolError(f"{code} cannot answer {type(event).__name__}")

