"""POP3 replies as values, their wire form (RFC 1939 3, RFC 2449 8, RFC 3206), and the table
of every reply the server sends as named constructors.

A reply is one status line ("+OK ..." / "-ERR [CODE] ...") optionally followed, for a
positive multi-line reply, by dot-stuffed lines and a terminating ".". The core
(connection.py, parser.py, states.py, maildrop.py, capabilities.py) and the server adapter
(serve/pop3.py) choose their replies here by name, so every text a client can read is
worded in this file.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from posthouse.wire.transparency import CRLF, dot_stuff


class RespCode(enum.Enum):
    """Extended response codes, sent in brackets after -ERR (RFC 2449 8)."""

    IN_USE = "IN-USE"  # RFC 2449 8.1.1: the maildrop is locked by another session
    LOGIN_DELAY = "LOGIN-DELAY"  # RFC 2449 8.1.2: logged in too recently
    SYS_TEMP = "SYS/TEMP"  # RFC 3206 4: a temporary system problem, try again later
    SYS_PERM = "SYS/PERM"  # RFC 3206 4: a permanent system problem
    AUTH = "AUTH"  # RFC 3206 5: the credentials were wrong
    UTF8 = "UTF8"  # RFC 6856 2: the maildrop needs UTF8 mode


@dataclass(frozen=True, slots=True)
class Ok:
    """+OK, optionally multi-line."""

    text: str = ""
    lines: tuple[bytes, ...] | None = None


@dataclass(frozen=True, slots=True)
class Err:
    """-ERR with an optional response code."""

    text: str
    code: RespCode | None = None


Pop3Reply = Ok | Err


def _clean(text: str) -> bytes:
    """Status text as UTF-8 on one line (CR and LF would end the line early)."""
    return text.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace")


def status_line(reply: Pop3Reply) -> bytes:
    """The first line of a reply, with CRLF."""
    if isinstance(reply, Ok):
        head = b"+OK"
        text = _clean(reply.text)
    else:
        head = b"-ERR"
        text = _clean(f"[{reply.code.value}] {reply.text}" if reply.code else reply.text)
    return head + (b" " + text if text else b"") + CRLF


def render(reply: Pop3Reply) -> bytes:
    """A whole reply: the status line and, for a multi-line +OK, its body and ".".

    Lines of a multi-line reply must not contain CR or LF; those starting with "." are
    dot-stuffed (RFC 1939 3).
    """
    out = status_line(reply)
    if isinstance(reply, Ok) and reply.lines is not None:
        out += dot_stuff(b"".join(line + CRLF for line in reply.lines))
    return out


# -- The connection ---------------------------------------------------------------------------

def greeting() -> Ok:
    """+OK, the first line the server sends (RFC 1939 4)."""
    return Ok("POP3 server ready")


def ok() -> Ok:
    """A bare +OK (NOOP, RFC 1939 5)."""
    return Ok()


def bye() -> Ok:
    """+OK to QUIT in AUTHORIZATION: the session ends without an UPDATE state (RFC 1939 6)."""
    return Ok("bye")


def line_too_long() -> Err:
    """-ERR to a line longer than even a SASL line may be; the line is dropped."""
    return Err("line too long")


def too_many_errors() -> Err:
    """-ERR in place of the error that reached ``max_errors``; the core closes after it."""
    return Err("too many errors, closing connection")


def too_slow() -> Err:
    """-ERR before closing a connection whose command line did not arrive in time."""
    return Err("too slow, closing connection", RespCode.SYS_TEMP)


# -- Lines that do not parse (parser.py) -----------------------------------------------------

def unknown_command() -> Err:
    """-ERR to a keyword we do not know."""
    return Err("unknown command")


def command_line_too_long() -> Err:
    """-ERR to a command line over ``max_command_line`` (RFC 2449 4 allows 255 octets)."""
    return Err("command line too long")


def no_arguments_allowed() -> Err:
    """-ERR to arguments after a command that takes none."""
    return Err("no arguments allowed")


def missing_argument() -> Err:
    """-ERR to USER or PASS without its argument."""
    return Err("missing argument")


def argument_not_utf8() -> Err:
    """-ERR to a USER or PASS argument that is not UTF-8."""
    return Err("argument is not valid UTF-8")


def control_characters() -> Err:
    """-ERR to a USER or PASS argument with a control character."""
    return Err("control characters not allowed")


def too_many_arguments() -> Err:
    """-ERR to AUTH with more than a mechanism and an initial response (RFC 5034 4)."""
    return Err("too many arguments")


def invalid_mechanism_name() -> Err:
    """-ERR to AUTH naming something that cannot be a SASL mechanism (RFC 4422 3.1)."""
    return Err("invalid mechanism name")


def argument_too_long() -> Err:
    """-ERR to an argument over 40 characters (RFC 1939 3)."""
    return Err("argument too long")


def wrong_argument_count(verb: str) -> Err:
    """-ERR to a message command with too few or too many arguments: TOP takes a message
    number and a line count, RETR and DELE a message number, LIST and UIDL one at most."""
    usage = "message number and line count" if verb == "TOP" else "a message number"
    return Err(f"{verb} needs {usage}")


def invalid_message_number() -> Err:
    """-ERR to a message number that is not a number of at most 10 digits."""
    return Err("invalid message number")


def invalid_line_count() -> Err:
    """-ERR to TOP with a line count that is not a number of at most 10 digits."""
    return Err("invalid line count")


# -- Refusals of the state gate (states.py) --------------------------------------------------

def not_valid_in_state(verb: str) -> Err:
    """-ERR to a command outside the states it is valid in (RFC 1939 3)."""
    return Err(f"{verb} not valid in this state")


def user_needs_tls() -> Err:
    """-ERR to USER where a password may not be sent: no TLS, and plaintext not allowed."""
    return Err("USER needs TLS: use STLS first")


def pass_needs_user() -> Err:
    """-ERR to PASS on any line but the one right after an accepted USER (RFC 1939 7)."""
    return Err("PASS must follow USER")


def mechanism_not_available(mechanism: str) -> Err:
    """-ERR to AUTH naming a mechanism not offered in this session (RFC 5034 4)."""
    return Err(f"mechanism {mechanism} not available")


def tls_already_active() -> Err:
    """-ERR to STLS once TLS is on (RFC 2595 4)."""
    return Err("TLS already active")


def stls_not_available() -> Err:
    """-ERR to STLS on a listener with no certificate."""
    return Err("STLS not available")


# -- CAPA, login, STLS and UTF8 ---------------------------------------------------------------

def capability_list(tags: Iterable[str]) -> Ok:
    """The multi-line reply to CAPA, one capability per line (RFC 2449 5)."""
    return Ok("capability list follows", tuple(tag.encode() for tag in tags))


def send_pass() -> Ok:
    """+OK to USER: the password may follow (RFC 1939 7)."""
    return Ok("send PASS")


def mechanism_list(mechanisms: Iterable[str]) -> Ok:
    """The mechanisms on offer, one a line: the reply to AUTH with no argument, the listing
    form that came before RFC 5034 and that some clients still probe with."""
    return Ok("SASL mechanisms follow", tuple(m.encode() for m in mechanisms))


def begin_tls() -> Ok:
    """+OK to STLS; the TLS handshake follows (RFC 2595 4)."""
    return Ok("begin TLS negotiation")


def utf8_enabled() -> Ok:
    """+OK to UTF8 (RFC 6856 2)."""
    return Ok("UTF8 enabled")


def apop_not_supported() -> Err:
    """-ERR to APOP: it needs passwords stored in the clear."""
    return Err("APOP not supported")


# -- The maildrop -----------------------------------------------------------------------------

def maildrop_status(count: int, octets: int) -> Ok:
    """+OK to STAT: "count octets" of the messages not marked deleted (RFC 1939 5)."""
    return Ok(f"{count} {octets}")


def _listing(number: int, value: int | str) -> str:
    """One line of LIST or UIDL: the message number and its size or unique id."""
    return f"{number} {value}"


def scan_listing(number: int, octets: int) -> Ok:
    """+OK to LIST n: the scan listing of one message (RFC 1939 5)."""
    return Ok(_listing(number, octets))


def scan_listings(count: int, octets: int, entries: Iterable[tuple[int, int]]) -> Ok:
    """The multi-line reply to LIST: a scan listing per (number, octets)."""
    lines = tuple(_listing(number, size).encode() for number, size in entries)
    return Ok(f"{count} messages ({octets} octets)", lines)


def unique_id(number: int, uid: str) -> Ok:
    """+OK to UIDL n: the unique-id listing of one message (RFC 1939 7)."""
    return Ok(_listing(number, uid))


def unique_id_listing(entries: Iterable[tuple[int, str]]) -> Ok:
    """The multi-line reply to UIDL: a unique-id listing per (number, unique id)."""
    return Ok("unique-id listing follows", tuple(_listing(n, uid).encode() for n, uid in entries))


def message_deleted(number: int) -> Ok:
    """+OK to DELE: the message is marked; it goes only when QUIT commits."""
    return Ok(f"message {number} deleted")


def no_such_message() -> Err:
    """-ERR to a command naming a message number outside 1..N."""
    return Err("no such message")


def already_deleted(number: int) -> Err:
    """-ERR to a command naming a message marked deleted (RFC 1939 5)."""
    return Err(f"message {number} already deleted")


def message_follows(octets: int) -> Ok:
    """The status line of RETR, before the message (RFC 1939 7)."""
    return Ok(f"{octets} octets")


def top_follows() -> Ok:
    """The status line of TOP, before the header and the first lines (RFC 1939 7)."""
    return Ok("top of message follows")


# -- The standard replies of the server adapter -----------------------------------------------

def invalid_credentials() -> Err:
    """-ERR [AUTH] to PASS or AUTH with wrong credentials (RFC 3206 5)."""
    return Err("invalid credentials", RespCode.AUTH)


def unsupported_mechanism() -> Err:
    """-ERR to AUTH with a mechanism the SASL layer does not know (RFC 5034 4)."""
    return Err("unsupported mechanism")


def auth_ended(reason: str) -> Err:
    """-ERR for a SASL exchange that ended without a login: ``reason`` is "cancelled" (the
    client sent "*", RFC 5034 4) or "malformed"."""
    return Err(f"authentication {reason}")


def auth_unavailable() -> Err:
    """-ERR [SYS/TEMP] to PASS or AUTH when too many logins wait for a password check: the
    credentials were not checked, try again later (RFC 3206 4)."""
    return Err("too many logins in progress, try again later", RespCode.SYS_TEMP)


def maildrop_locked() -> Err:
    """-ERR [IN-USE]: another session holds the maildrop (RFC 2449 8.1.1)."""
    return Err("maildrop already locked", RespCode.IN_USE)


def maildrop_unavailable() -> Err:
    """-ERR [SYS/TEMP]: the maildrop could not be read at login (RFC 3206 4)."""
    return Err("cannot open maildrop", RespCode.SYS_TEMP)


def message_removed() -> Err:
    """-ERR [SYS/PERM] to RETR/TOP of a message whose content is gone (RFC 3206 4)."""
    return Err("message was removed from the server", RespCode.SYS_PERM)


def update_failed() -> Err:
    """-ERR [SYS/TEMP] to QUIT when the UPDATE state could not remove the messages (RFC 1939
    6: the server must answer -ERR then; RFC 3206 4)."""
    return Err("could not remove messages", RespCode.SYS_TEMP)


def signed_off(removed: int) -> Ok:
    """+OK to QUIT after the UPDATE state removed ``removed`` messages (RFC 1939 6)."""
    return Ok(f"bye ({removed} removed)")


def top_part(message: bytes, body_lines: int) -> bytes:
    """The header, the blank line and the first ``body_lines`` body lines (RFC 1939 7 TOP)."""
    if message.startswith(b"\r\n"):  # no header fields: the blank line comes first
        head_end = 2
    else:
        sep = message.find(b"\r\n\r\n")
        if sep < 0:  # no body: the whole message is header
            return message
        head_end = sep + 4
    body = message[head_end:]
    pos = 0
    for _ in range(body_lines):
        nl = body.find(b"\n", pos)
        if nl < 0:
            pos = len(body)
            break
        pos = nl + 1
    return message[:head_end] + body[:pos]
