"""Command lines to events: the verb table and one argument parser per verb.

Only syntax is checked here; whether the command fits the session is decided before (states.py
and the gate in connection.py). A parser returns an SmtpEvent (sasl.AuthStart for AUTH), or
the Reply that refuses the line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from posthouse.sasl.events import AuthStart, SaslEvent
from posthouse.smtp import replies
from posthouse.smtp.events import (
    DataStart,
    Expn,
    Helo,
    Help,
    MailFrom,
    Noop,
    Quit,
    RcptTo,
    Rset,
    SmtpEvent,
    StartTLS,
    Vrfy,
)
from posthouse.smtp.grammar import Address, AddressError, parse_path
from posthouse.smtp.params import (
    Offered,
    ParamError,
    parse_mail_params,
    parse_rcpt_params,
)
from posthouse.smtp.replies import Reply

MAX_VERB = 12
MAX_BDAT_DIGITS = 18
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # C0 controls and DEL


@dataclass(frozen=True)
class ParseContext:
    """What the session has in force when a line is parsed."""

    offered: Offered  # MAIL/RCPT parameters allowed now (empty after HELO)
    smtputf8_tx: bool = False  # the transaction's MAIL carried SMTPUTF8 (RFC 6531 3.4)
    mechanisms: tuple[str, ...] = ()  # SASL mechanisms offered now


def split_command(line: bytes) -> tuple[str, str] | Reply:
    """Decode a command line and split it into an upper-case verb and its arguments.

    The line must be UTF-8 (non-ASCII is only meaningful inside SMTPUTF8 addresses) without
    control characters; trailing spaces are tolerated.
    """
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return replies.syntax_error("Invalid UTF-8 in command")
    if _CONTROL.search(text):
        return replies.syntax_error("Control character in command")
    verb, _, args = text.rstrip(" ").partition(" ")
    if not verb:
        return replies.syntax_error()
    if len(verb) > MAX_VERB or not (verb.isascii() and verb.isalpha()):
        return replies.unknown_command()
    return verb.upper(), args


def _no_args(event: SmtpEvent) -> Callable[[str, ParseContext], SmtpEvent | Reply]:
    def parse(args: str, ctx: ParseContext) -> SmtpEvent | Reply:
        return replies.param_syntax("No parameters allowed") if args else event

    return parse


def _hello(extended: bool) -> Callable[[str, ParseContext], SmtpEvent | Reply]:
    def parse(args: str, ctx: ParseContext) -> SmtpEvent | Reply:
        # RFC 5321 4.1.1.1 wants a domain or address literal; like most servers we take any
        # printable word (policy may check it with grammar.is_domain_or_literal).
        name = args.lstrip(" ").partition(" ")[0]
        if not name or not name.isascii():
            return replies.param_syntax("HELO/EHLO needs a domain name")
        return Helo(name, extended)

    return parse


def _keyword(args: str, word: str) -> str | None:
    """The rest after "FROM:" / "TO:" (any case), skipping spaces some clients put there."""
    if args[: len(word)].upper() != word:
        return None
    return args[len(word) :].lstrip(" ")


def _path_and_params(rest: str, *, sender: bool) -> tuple[Address | None, str] | Reply:
    bad = replies.bad_sender_syntax if sender else replies.bad_recipient_syntax
    try:
        address, end = parse_path(rest, null_ok=sender, postmaster_ok=not sender)
    except AddressError as exc:
        return bad(f"Bad address: {exc.problem.value}")
    tail = rest[end:]
    if tail and not tail.startswith(" "):
        return bad("Bad address: syntax")
    return address, tail


def parse_mail(args: str, ctx: ParseContext) -> SmtpEvent | Reply:
    """MAIL FROM:<reverse-path> [params] (RFC 5321 4.1.1.2)."""
    rest = _keyword(args, "FROM:")
    if rest is None:
        return replies.param_syntax("Syntax: MAIL FROM:<address>")
    parsed = _path_and_params(rest, sender=True)
    if isinstance(parsed, Reply):
        return parsed
    address, tail = parsed
    try:
        params = parse_mail_params(tail, ctx.offered)
    except ParamError as exc:
        return exc.reply
    if address is not None and not address.is_ascii and not params.smtputf8:
        return replies.utf8_not_permitted()
    return MailFrom(address, params)


def parse_rcpt(args: str, ctx: ParseContext) -> SmtpEvent | Reply:
    """RCPT TO:<forward-path> [params] (RFC 5321 4.1.1.3)."""
    rest = _keyword(args, "TO:")
    if rest is None:
        return replies.param_syntax("Syntax: RCPT TO:<address>")
    parsed = _path_and_params(rest, sender=False)
    if isinstance(parsed, Reply):
        return parsed
    address, tail = parsed
    assert address is not None  # the null path is refused for recipients
    try:
        params = parse_rcpt_params(tail, ctx.offered)
    except ParamError as exc:
        return exc.reply
    if not address.is_ascii and not ctx.smtputf8_tx:
        return replies.utf8_not_permitted()
    return RcptTo(address, params)


def parse_auth(args: str, ctx: ParseContext) -> AuthStart | Reply:
    """AUTH mechanism [initial-response] (RFC 4954 4); the response is handed on as sent
    (base64, or "=" for an empty one): the SASL mechanism decodes it."""
    mechanism, _, initial = args.partition(" ")
    mechanism = mechanism.upper()
    if not mechanism or " " in initial:
        return replies.param_syntax("Syntax: AUTH mechanism [initial-response]")
    if mechanism not in ctx.mechanisms:
        return replies.auth_unknown_mechanism()
    return AuthStart(mechanism, initial.encode() if initial else None)


def parse_bdat(args: str) -> tuple[int, bool] | Reply:
    """BDAT chunk-size [LAST] (RFC 3030 2); sizes beyond 18 digits are refused."""
    size, _, last = args.partition(" ")
    if not size.isascii() or not size.isdigit() or len(size) > MAX_BDAT_DIGITS:
        return replies.param_syntax("Syntax: BDAT size [LAST]")
    if last and last.upper() != "LAST":
        return replies.param_syntax("Syntax: BDAT size [LAST]")
    return int(size), bool(last)


def _required_arg(
    make: Callable[[str], SmtpEvent],
) -> Callable[[str, ParseContext], SmtpEvent | Reply]:
    def parse(args: str, ctx: ParseContext) -> SmtpEvent | Reply:
        return make(args) if args else replies.param_syntax("Argument required")

    return parse


def _help(args: str, ctx: ParseContext) -> SmtpEvent | Reply:
    return Help(args or None)


def _noop(args: str, ctx: ParseContext) -> SmtpEvent | Reply:
    return Noop()  # RFC 5321 4.1.1.9: a parameter string is allowed and ignored


PARSERS: dict[str, Callable[[str, ParseContext], SmtpEvent | SaslEvent | Reply]] = {
    "HELO": _hello(False),
    "EHLO": _hello(True),
    "MAIL": parse_mail,
    "RCPT": parse_rcpt,
    "DATA": _no_args(DataStart()),
    "RSET": _no_args(Rset()),
    "NOOP": _noop,
    "QUIT": _no_args(Quit()),
    "VRFY": _required_arg(Vrfy),
    "EXPN": _required_arg(Expn),
    "HELP": _help,
    "STARTTLS": _no_args(StartTLS()),
    "AUTH": parse_auth,
}
"""Every verb except BDAT, whose octets the server reads before answering."""
