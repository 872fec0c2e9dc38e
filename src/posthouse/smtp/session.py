"""Session state of the server core: phase, greeting kind, TLS/AUTH status, transaction.

``Session.command`` turns one command line into an event (or a Rejected); ``Session.apply``
moves the state when the adapter's reply shows that a command succeeded.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import lru_cache

from posthouse.smtp import replies
from posthouse.smtp.config import SmtpConfig
from posthouse.smtp.events import (
    BdatChunk,
    Helo,
    MailFrom,
    MessageComplete,
    RcptTo,
    Rejected,
    Rset,
    SmtpEvent,
)
from posthouse.smtp.params import MailParams, Offered
from posthouse.smtp.parser import PARSERS, ParseContext, parse_bdat, split_command
from posthouse.smtp.replies import Reply
from posthouse.smtp.states import Phase, refusal

_TRANSACTION = (Phase.MAIL, Phase.RCPT, Phase.BDAT)


_NOTHING_OFFERED = Offered()


# Both depend only on the (frozen) config and two flags: made once, not per command.

@lru_cache(maxsize=32)
def _offered(config: SmtpConfig, *, auth: bool) -> Offered:
    """The MAIL/RCPT parameters an EHLO session may use."""
    c = config
    return Offered(
        size=c.size, eightbitmime=c.eightbitmime, binarymime=c.binarymime_offered,
        smtputf8=c.smtputf8, dsn=c.dsn, auth=auth, max_size=c.max_message_size,
    )


@lru_cache(maxsize=32)
def _ehlo_reply(config: SmtpConfig, *, starttls: bool, auth: bool) -> Reply:
    """250 with the hostname and the EHLO keywords."""
    c = config
    keywords = (
        (c.size, f"SIZE {c.max_message_size}"),
        (c.pipelining, "PIPELINING"),
        (c.eightbitmime, "8BITMIME"),
        (c.smtputf8, "SMTPUTF8"),
        (c.chunking, "CHUNKING"),
        (c.binarymime_offered, "BINARYMIME"),
        (c.dsn, "DSN"),
        (c.enhancedstatuscodes, "ENHANCEDSTATUSCODES"),
        (starttls, "STARTTLS"),  # RFC 3207 4.2: not once TLS is active
        (auth, "AUTH " + " ".join(c.auth_mechanisms)),
    )
    return Reply(250, None, [c.hostname] + [word for on, word in keywords if on])


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


class Session:
    """Everything the server remembers between commands."""

    def __init__(self, config: SmtpConfig, *, tls_active: bool) -> None:
        self.config = config
        self.tls_active = tls_active
        self.phase = Phase.FRESH
        self.extended = False
        self.authenticated = False
        self.mail_params: MailParams | None = None
        self.recipients = 0
        self._chunks: list[bytes] = []
        self._chunk_total = 0

    @property
    def enhanced(self) -> bool:
        """Enhanced status codes are in force (RFC 2034: after EHLO, when advertised)."""
        return self.extended and self.config.enhancedstatuscodes

    def auth_offered(self) -> bool:
        """AUTH is offered now: enabled, and over TLS unless plaintext is allowed."""
        c = self.config
        return c.auth and bool(c.auth_mechanisms) and (self.tls_active or not c.auth_requires_tls)

    def offered(self) -> Offered:
        """MAIL/RCPT parameters in force: none after HELO (RFC 5321 4.1.1.11, 2.2.1)."""
        if not self.extended:
            return _NOTHING_OFFERED
        return _offered(self.config, auth=self.auth_offered())

    def ehlo_reply(self, *, extended: bool) -> Reply:
        """250 with the EHLO keywords (RFC 5321 4.1.1.1), computed from config and state."""
        if not extended:
            return replies.helo_ok(self.config.hostname)
        return _ehlo_reply(self.config, starttls=self.config.starttls and not self.tls_active,
                           auth=self.auth_offered())

    # -- Commands ----------------------------------------------------------------------------

    def command(self, line: bytes) -> SmtpEvent | BdatCommand:
        """Parse one command line and check it against the session."""
        split = split_command(line)
        if isinstance(split, Reply):
            return Rejected(split)
        verb, args = split
        if verb == "BDAT":
            bdat = parse_bdat(args)
            if isinstance(bdat, Reply):
                return Rejected(bdat)  # without a size the octets cannot be skipped
            return BdatCommand(bdat[0], bdat[1], self._check(verb))
        parser = PARSERS.get(verb)
        if parser is None:
            return Rejected(replies.unknown_command())
        refused = self._check(verb)
        if refused is not None:
            return Rejected(refused)
        context = ParseContext(
            offered=self.offered(),
            smtputf8_tx=self.mail_params is not None and self.mail_params.smtputf8,
            mechanisms=self.config.auth_mechanisms if self.auth_offered() else (),
        )
        result = parser(args, context)
        return Rejected(result) if isinstance(result, Reply) else result

    def _check(self, verb: str) -> Reply | None:
        """Availability (502), then sequence (states.py), then session policy."""
        return self._unavailable(verb) or refusal(self.phase, verb) or self._policy(verb)

    def _unavailable(self, verb: str) -> Reply | None:
        c = self.config
        enabled = {"STARTTLS": c.starttls, "AUTH": c.auth, "BDAT": c.chunking}
        return None if enabled.get(verb, True) else replies.not_implemented()

    def _policy(self, verb: str) -> Reply | None:
        c = self.config
        if verb in ("STARTTLS", "AUTH", "BDAT") and not self.extended:
            return replies.bad_sequence("Send EHLO first")  # extensions need EHLO
        if verb == "STARTTLS" and self.tls_active:
            return replies.bad_sequence("TLS already active")
        if verb == "AUTH":
            if self.authenticated:
                return replies.bad_sequence("Already authenticated")  # RFC 4954 4
            if not self.auth_offered():
                return replies.encryption_required()
        if verb == "MAIL":
            if c.tls_required and not self.tls_active:
                return replies.encryption_required()
            if c.auth_required and not self.authenticated:
                return replies.auth_required()
        if verb == "RCPT" and self.recipients >= c.max_recipients:
            return replies.too_many_recipients()
        if verb == "DATA" and self.mail_params and self.mail_params.body == "BINARYMIME":
            return replies.bad_sequence("BINARYMIME requires BDAT")  # RFC 3030 3
        return None

    # -- Effects -----------------------------------------------------------------------------

    def apply(self, event: SmtpEvent, reply: Reply) -> None:
        """Move the state after ``reply`` answered ``event``."""
        ok = reply.is_success
        if isinstance(event, Helo) and ok:
            # RFC 5321 4.1.4: a later EHLO/HELO also resets the transaction.
            self.extended = event.extended
            self.end_transaction()
            self.phase = Phase.GREETED
        elif isinstance(event, MailFrom) and ok:
            self.phase = Phase.MAIL
            self.mail_params = event.params
        elif isinstance(event, RcptTo) and ok:
            self.phase = Phase.RCPT
            self.recipients += 1
        elif isinstance(event, Rset) and ok:
            self.end_transaction()
        elif isinstance(event, MessageComplete):
            self.end_transaction()  # the transaction is over whatever the reply said
        elif isinstance(event, BdatChunk):
            if ok:
                self.phase = Phase.BDAT
            else:
                self.end_transaction()  # RFC 3030 2: a failed chunk fails the transaction

    def end_transaction(self) -> None:
        """Forget the mail transaction (RSET, end of message, failure)."""
        if self.phase in _TRANSACTION:
            self.phase = Phase.GREETED
        self.mail_params = None
        self.recipients = 0
        self._chunks = []
        self._chunk_total = 0

    def restart_after_tls(self) -> None:
        """RFC 3207 4.2: discard all knowledge from the client; it must EHLO again."""
        self.end_transaction()
        self.phase = Phase.FRESH
        self.extended = False
        self.authenticated = False
        self.tls_active = True

    # -- BDAT chunks -------------------------------------------------------------------------

    def chunk_fits(self, size: int) -> bool:
        """True if a chunk of ``size`` octets keeps the message within the size limit."""
        return self._chunk_total + size <= self.config.max_message_size

    def add_chunk(self, data: bytes) -> None:
        """Keep the octets of an accepted-so-far chunk."""
        self._chunks.append(data)
        self._chunk_total += len(data)

    def take_chunks(self) -> bytes:
        """The whole BDAT message."""
        data = b"".join(self._chunks)
        self._chunks = []
        self._chunk_total = 0
        return data
