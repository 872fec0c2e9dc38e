"""Which command is allowed in which phase of a session (RFC 5321 4.1.4, 3.3).

The phase only moves when the adapter's reply says a command succeeded; see server.py. A
command refused here is answered by the core itself with the reply in the table.
"""

from __future__ import annotations

import enum

from posthouse.smtp import replies
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


def _ehlo_first() -> Reply:
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
        (Phase.FRESH, "STARTTLS"): _ehlo_first(),
        (Phase.FRESH, "AUTH"): _ehlo_first(),
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


def refusal(phase: Phase, verb: str) -> Reply | None:
    """The reply for ``verb`` out of sequence in ``phase``, or None if it is allowed."""
    return REFUSALS.get((phase, verb))
