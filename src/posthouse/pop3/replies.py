"""POP3 replies as values, and their wire form (RFC 1939 3, RFC 2449 8, RFC 3206).

A reply is one status line ("+OK ..." / "-ERR [CODE] ...") optionally followed, for a
positive multi-line reply, by dot-stuffed lines and a terminating ".".
"""

from __future__ import annotations

import enum
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
