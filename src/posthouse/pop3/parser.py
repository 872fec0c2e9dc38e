"""Command-line parsing (RFC 1939 3, RFC 2449 4): bytes -> Pop3Command | BadCommand."""

from __future__ import annotations

from posthouse.pop3 import replies
from posthouse.pop3.commands import BadCommand, Pop3Command, Verb
from posthouse.sasl import is_mechanism_name

MAX_ARGUMENT = 40  # RFC 1939 3: arguments are up to 40 characters long
MAX_NUMBER_DIGITS = 10

_VERBS = {verb.value.encode(): verb for verb in Verb}
_NO_ARGS = frozenset({Verb.CAPA, Verb.STLS, Verb.UTF8, Verb.QUIT, Verb.STAT, Verb.NOOP,
                      Verb.RSET})
_OPTIONAL_NUMBER = frozenset({Verb.LIST, Verb.UIDL})
_ONE_NUMBER = frozenset({Verb.RETR, Verb.DELE})


def parse_command(line: bytes, *, max_command: int) -> Pop3Command | BadCommand:
    """Parse one command line (without CRLF).

    Keywords are case-insensitive. USER and PASS take the rest of the line as their single
    argument (RFC 1939 7 allows spaces in a password). Only AUTH, whose initial response may be
    long (RFC 5034 4), is exempt from ``max_command``.
    """
    keyword, _, rest = line.partition(b" ")
    verb = _VERBS.get(keyword.upper())
    if verb is None:
        return BadCommand(replies.unknown_command())
    if verb is not Verb.AUTH and len(line) > max_command:
        return BadCommand(replies.command_line_too_long(), verb)
    if verb in _NO_ARGS:
        if rest.strip(b" "):
            return BadCommand(replies.no_arguments_allowed(), verb)
        return Pop3Command(verb)
    if verb in (Verb.USER, Verb.PASS):
        return _parse_text(verb, rest)
    if verb is Verb.AUTH:
        return _parse_auth(rest)
    if verb is Verb.APOP:
        return Pop3Command(verb)
    return _parse_numbers(verb, rest.split())


def _parse_text(verb: Verb, rest: bytes) -> Pop3Command | BadCommand:
    if verb is Verb.USER:
        rest = rest.strip(b" ")
    if not rest:
        return BadCommand(replies.missing_argument(), verb)
    try:
        text = rest.decode("utf-8")
    except UnicodeDecodeError:
        return BadCommand(replies.argument_not_utf8(), verb)
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        return BadCommand(replies.control_characters(), verb)
    return Pop3Command(verb, text=text)


def _parse_auth(rest: bytes) -> Pop3Command | BadCommand:
    parts = rest.split()
    if len(parts) > 2:
        return BadCommand(replies.too_many_arguments(), Verb.AUTH)
    if not parts:
        return Pop3Command(Verb.AUTH)  # the pre-RFC 5034 "list mechanisms" form
    name = parts[0].upper()  # bytes.upper changes a-z only
    if not is_mechanism_name(name):
        return BadCommand(replies.invalid_mechanism_name(), Verb.AUTH)
    return Pop3Command(
        Verb.AUTH, text=name.decode("ascii"), initial=parts[1] if len(parts) == 2 else None
    )


def _number(arg: bytes) -> int | None:
    if not arg.isdigit() or len(arg) > MAX_NUMBER_DIGITS:
        return None
    return int(arg)


def _parse_numbers(verb: Verb, args: list[bytes]) -> Pop3Command | BadCommand:
    if any(len(arg) > MAX_ARGUMENT for arg in args):
        return BadCommand(replies.argument_too_long(), verb)
    if verb in _OPTIONAL_NUMBER and not args:
        return Pop3Command(verb)
    if len(args) != (2 if verb is Verb.TOP else 1):
        return BadCommand(replies.wrong_argument_count(verb.value), verb)
    number = _number(args[0])
    if number is None:
        return BadCommand(replies.invalid_message_number(), verb)
    if verb is Verb.TOP:
        lines = _number(args[1])
        if lines is None:
            return BadCommand(replies.invalid_line_count(), verb)
        return Pop3Command(verb, number=number, lines=lines)
    return Pop3Command(verb, number=number)
