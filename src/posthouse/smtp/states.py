"""The SMTP server core's state and its rules: which command is allowed when.

``SmtpState`` is what the core remembers between commands (phase, EHLO or HELO, TLS, AUTH,
the transaction). ``refusal(state, verb)`` is the one gate every command passes, in order:
the extension is switched off (502), the command is out of sequence for the phase (the table
``REFUSALS``, RFC 5321 4.1.4, 3.3), or a rule that needs more than the phase refuses it
(``_RULES``: EHLO first for extensions, TLS and AUTH before mail on submission, the recipient
limit...). A refused command
is answered by the core itself with that reply. The phase only moves when the adapter's reply
says a command succeeded (``SmtpState.apply``, called by connection.py).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import lru_cache

from posthouse import sasl
from posthouse.smtp import replies
from posthouse.smtp.config import SmtpConfig
from posthouse.smtp.events import (
    BdatChunk,
    Helo,
    MailFrom,
    MessageComplete,
    RcptTo,
    Rset,
    SmtpEvent,
)
from posthouse.smtp.params import MailParams, Offered
from posthouse.smtp.replies import Reply


class Phase(enum.Enum):
    """Where the session stands between commands."""

    FRESH = "fresh"  # no successful HELO/EHLO yet (also right after STARTTLS)
    GREETED = "greeted"  # HELO/EHLO accepted, no mail transaction
    MAIL = "mail"  # MAIL accepted, no recipient yet
    RCPT = "rcpt"  # at least one RCPT accepted
    BDAT = "bdat"  # at least one BDAT chunk accepted (RFC 3030)


VERBS = (
    "HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT",
    "VRFY", "EXPN", "HELP", "STARTTLS", "AUTH",
)

_IN_TRANSACTION = (Phase.MAIL, Phase.RCPT, Phase.BDAT)


def _hello_first() -> Reply:
    return replies.bad_sequence("Send HELO/EHLO first")


def _send_ehlo_first() -> Reply:
    return replies.bad_sequence("Send EHLO first")


def _mail_first() -> Reply:
    return replies.bad_sequence("Need MAIL command first")


def _not_in_transaction(verb: str) -> Reply:
    return replies.bad_sequence(f"{verb} not allowed during a mail transaction")


def _refusals() -> dict[tuple[Phase, str], Reply]:
    """The (phase, verb) pairs that are out of sequence, with their reply.

    HELO, EHLO, RSET, NOOP, QUIT, VRFY, EXPN and HELP are allowed in every phase
    (RFC 5321 4.1.4); a later EHLO/HELO also resets the transaction.
    """
    table: dict[tuple[Phase, str], Reply] = {
        (Phase.FRESH, "MAIL"): _hello_first(),
        (Phase.FRESH, "RCPT"): _hello_first(),
        (Phase.FRESH, "DATA"): _hello_first(),
        (Phase.FRESH, "BDAT"): _hello_first(),
        (Phase.FRESH, "STARTTLS"): _send_ehlo_first(),
        (Phase.FRESH, "AUTH"): _send_ehlo_first(),
        (Phase.GREETED, "RCPT"): _mail_first(),
        (Phase.GREETED, "DATA"): _mail_first(),
        (Phase.GREETED, "BDAT"): _mail_first(),
        # RFC 5321 3.3: DATA with no accepted recipient gets 503 or 554; 554 says why.
        (Phase.MAIL, "DATA"): replies.no_valid_recipients(),
        (Phase.MAIL, "BDAT"): replies.no_valid_recipients(),
        (Phase.BDAT, "RCPT"): replies.bad_sequence("RCPT not allowed after BDAT"),
        # RFC 3030 2: DATA and BDAT cannot be mixed in one transaction.
        (Phase.BDAT, "DATA"): replies.bad_sequence("DATA not allowed after BDAT"),
    }
    for phase in _IN_TRANSACTION:
        table[(phase, "MAIL")] = replies.bad_sequence("Nested MAIL command")
        table[(phase, "STARTTLS")] = _not_in_transaction("STARTTLS")
        table[(phase, "AUTH")] = _not_in_transaction("AUTH")  # RFC 4954 4
    return table


REFUSALS = _refusals()


# -- Rules: refusals that depend on more than the phase ---------------------------------------
# Each rule answers for the verbs it is listed under in _RULES, in that order.

def _ehlo_first(state: SmtpState) -> Reply | None:
    return None if state.extended else _send_ehlo_first()  # extensions need EHLO


def _tls_once(state: SmtpState) -> Reply | None:
    return replies.bad_sequence("TLS already active") if state.tls_active else None


def _auth_once_and_secure(state: SmtpState) -> Reply | None:
    if state.authenticated:
        return replies.bad_sequence("Already authenticated")  # RFC 4954 4
    if not state.auth_offered():
        return replies.encryption_required()
    return None


def _mail_needs_tls_and_auth(state: SmtpState) -> Reply | None:
    c = state.config
    if c.tls_required and not state.tls_active:
        return replies.encryption_required()  # RFC 3207 4
    if c.auth_required and not state.authenticated:
        return replies.auth_required()  # submission (RFC 6409 4.3)
    return None


def _recipient_limit(state: SmtpState) -> Reply | None:
    if state.recipients >= state.config.max_recipients:
        return replies.too_many_recipients()
    return None


def _binarymime_needs_bdat(state: SmtpState) -> Reply | None:
    params = state.mail_params
    if params is not None and params.body == "BINARYMIME":
        return replies.bad_sequence("BINARYMIME requires BDAT")  # RFC 3030 3
    return None


_Rule = Callable[["SmtpState"], Reply | None]
_RULES: dict[str, tuple[_Rule, ...]] = {
    "STARTTLS": (_ehlo_first, _tls_once),
    "AUTH": (_ehlo_first, _auth_once_and_secure),
    "BDAT": (_ehlo_first,),
    "MAIL": (_mail_needs_tls_and_auth,),
    "RCPT": (_recipient_limit,),
    "DATA": (_binarymime_needs_bdat,),
}
_SWITCHABLE = ("STARTTLS", "AUTH", "BDAT")  # extensions the configuration may turn off


def _unavailable(config: SmtpConfig, verb: str) -> Reply | None:
    enabled = {"STARTTLS": config.starttls, "AUTH": config.auth, "BDAT": config.chunking}
    return None if enabled[verb] else replies.not_implemented()


def refusal(state: SmtpState, verb: str) -> Reply | None:
    """The reply refusing ``verb`` now, or None if it may run: availability (502), then the
    sequence table, then the rules of ``_RULES`` for the verb, the first that refuses."""
    if verb in _SWITCHABLE and (off := _unavailable(state.config, verb)) is not None:
        return off
    refused = REFUSALS.get((state.phase, verb))
    if refused is not None:
        return refused
    for rule in _RULES.get(verb, ()):
        refused = rule(state)
        if refused is not None:
            return refused
    return None


# -- What an EHLO session offers (depends only on the frozen config and two flags) -------------

_NOTHING_OFFERED = Offered()


@lru_cache(maxsize=32)
def _offered(config: SmtpConfig, *, auth: bool, tls: bool) -> Offered:
    """The MAIL/RCPT parameters an EHLO session may use."""
    c = config
    return Offered(
        size=c.size, eightbitmime=c.eightbitmime, binarymime=c.binarymime_offered,
        smtputf8=c.smtputf8, dsn=c.dsn, auth=auth, requiretls=c.requiretls and tls,
        max_size=c.max_message_size,
    )


@lru_cache(maxsize=32)
def _ehlo_reply(config: SmtpConfig, *, starttls: bool, mechanisms: tuple[str, ...],
                tls: bool = False) -> Reply:
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
        (c.requiretls and tls, "REQUIRETLS"),  # RFC 8689 4.1: only over TLS
        (bool(mechanisms), "AUTH " + " ".join(mechanisms)),
    )
    return Reply(250, None, [c.hostname] + [word for on, word in keywords if on])


class SmtpState:
    """Everything the server core remembers between commands; ``refusal`` gates them."""

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

    def sasl_mechanisms(self) -> tuple[str, ...]:
        """The SASL mechanisms offered now: none without ``auth``, else ``sasl.mechanisms``
        with passwords over TLS only, unless plaintext is allowed."""
        c = self.config
        if not c.auth:
            return ()
        return sasl.mechanisms(secure=self.tls_active or not c.auth_requires_tls,
                               scram=c.scram, tls_available=c.starttls)

    def auth_offered(self) -> bool:
        """AUTH is offered now: some mechanism is (``sasl_mechanisms``)."""
        return bool(self.sasl_mechanisms())

    def offered(self) -> Offered:
        """MAIL/RCPT parameters in force: none after HELO (RFC 5321 4.1.1.11, 2.2.1)."""
        if not self.extended:
            return _NOTHING_OFFERED
        return _offered(self.config, auth=self.auth_offered(), tls=self.tls_active)

    def ehlo_reply(self, *, extended: bool) -> Reply:
        """250 with the EHLO keywords (RFC 5321 4.1.1.1), computed from config and state."""
        if not extended:
            return replies.helo_ok(self.config.hostname)
        return _ehlo_reply(self.config, starttls=self.config.starttls and not self.tls_active,
                           mechanisms=self.sasl_mechanisms(), tls=self.tls_active)

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
        if self.phase in _IN_TRANSACTION:
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
