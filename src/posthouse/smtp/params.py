"""ESMTP parameters of MAIL and RCPT (RFC 5321 4.1.2) and the xtext encoding (RFC 3461 4).

A parameter is accepted only when its extension is in force (enabled and advertised after an
EHLO); anything else, and a repeated parameter, gets 555 5.5.4 (RFC 5321 4.1.1.11). A known
parameter with a bad value gets 501 5.5.4.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from posthouse.message.address import ATOM
from posthouse.smtp import replies
from posthouse.smtp.grammar import ESMTP_KEYWORD
from posthouse.smtp.replies import Reply

MAX_PARAMS = 16
MAX_SIZE_DIGITS = 20
MAX_ENVID = 100  # RFC 3461 4.4
MAX_ORCPT = 500  # RFC 3461 4.2

_VALUE_RE = re.compile(r"[\x21-\x3c\x3e-\x7e]+")  # esmtp-value: CHAR except "=", SP, CTLs
_XTEXT_RE = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*")
_ATOM_RE = re.compile(ATOM)
_NOTIFY_EVENTS = ("SUCCESS", "FAILURE", "DELAY")


class ParamError(Exception):
    """A parameter was refused; ``reply`` says how."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(str(reply))
        self.reply = reply


@dataclass(frozen=True)
class Offered:
    """Which parameters are in force for the current command."""

    size: bool = False
    eightbitmime: bool = False
    binarymime: bool = False
    smtputf8: bool = False
    dsn: bool = False
    auth: bool = False
    requiretls: bool = False  # RFC 8689 4.1: only over TLS
    max_size: int | None = None


@dataclass(frozen=True)
class MailParams:
    """MAIL FROM parameters; None means "not given"."""

    size: int | None = None  # RFC 1870
    body: str | None = None  # 7BIT | 8BITMIME | BINARYMIME (RFC 6152, RFC 3030)
    smtputf8: bool = False  # RFC 6531
    auth: str | None = None  # RFC 4954 5, decoded; "<>" when the submitter is unknown
    ret: str | None = None  # FULL | HDRS (RFC 3461 4.3)
    envid: str | None = None  # RFC 3461 4.4, decoded
    requiretls: bool = False  # RFC 8689 4.1


@dataclass(frozen=True)
class Orcpt:
    """RFC 3461 4.2 original recipient: an address type and the decoded address."""

    addr_type: str
    address: str

    @property
    def text(self) -> str:
        """"rfc822;user@example.org"."""
        return f"{self.addr_type};{self.address}"


@dataclass(frozen=True)
class RcptParams:
    """RCPT TO parameters; an empty ``notify`` means "not given"."""

    notify: tuple[str, ...] = ()  # ("NEVER",) or some of SUCCESS, FAILURE, DELAY
    orcpt: Orcpt | None = None


def xtext_decode(text: str) -> str:
    """Decode RFC 3461 xtext ("+2B" is "+"); the octets must be UTF-8."""
    if not _XTEXT_RE.fullmatch(text):
        raise ParamError(replies.param_syntax("Invalid xtext"))
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "+":
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(ord(text[i]))
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise ParamError(replies.param_syntax("Invalid xtext")) from None


def xtext_encode(text: str) -> str:
    """Encode ``text`` (as UTF-8) to xtext."""
    return "".join(
        chr(b) if 33 <= b <= 126 and b not in (0x2B, 0x3D) else f"+{b:02X}"
        for b in text.encode("utf-8")
    )


def split_params(text: str) -> list[tuple[str, str | None]]:
    """Split "KEY=value KEY2" into upper-case keywords and raw values, refusing repeats."""
    pieces = text.split(" ", MAX_PARAMS * 4)
    if len(pieces) > MAX_PARAMS * 4:
        raise ParamError(replies.param_syntax("Too many parameters"))
    out: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for piece in pieces:
        if not piece:
            continue  # tolerate runs of spaces
        key, eq, value = piece.partition("=")
        if not ESMTP_KEYWORD.fullmatch(key) or (eq and not _VALUE_RE.fullmatch(value)):
            raise ParamError(replies.param_syntax(f"Bad parameter syntax: {piece[:40]}"))
        key = key.upper()
        if key in seen:
            raise ParamError(replies.param_unknown(f"Duplicate parameter {key}"))
        seen.add(key)
        out.append((key, value if eq else None))
    if len(out) > MAX_PARAMS:
        raise ParamError(replies.param_syntax("Too many parameters"))
    return out


def _need_value(key: str, value: str | None) -> str:
    if value is None:
        raise ParamError(replies.param_syntax(f"{key} needs a value"))
    return value


def _size(value: str | None, max_size: int | None) -> int:
    raw = _need_value("SIZE", value)
    if not raw.isdigit() or len(raw) > MAX_SIZE_DIGITS:
        raise ParamError(replies.param_syntax("Bad SIZE value"))
    size = int(raw)
    if max_size is not None and size > max_size:
        raise ParamError(replies.message_too_big())  # RFC 1870 6.1: 552 at MAIL
    return size


def _body(value: str | None, offered: Offered) -> str:
    body = _need_value("BODY", value).upper()
    allowed = {"7BIT"}
    if offered.eightbitmime:
        allowed.add("8BITMIME")
    if offered.binarymime:
        allowed.add("BINARYMIME")
    if body not in allowed:
        raise ParamError(replies.param_syntax(f"Unsupported BODY type {body[:20]}"))
    return body


def _choice(key: str, value: str | None, choices: tuple[str, ...]) -> str:
    got = _need_value(key, value).upper()
    if got not in choices:
        raise ParamError(replies.param_syntax(f"Bad {key} value"))
    return got


def _envid(value: str | None) -> str:
    raw = _need_value("ENVID", value)
    if len(raw) > MAX_ENVID:
        raise ParamError(replies.param_syntax("ENVID too long"))
    return xtext_decode(raw)


def _apply_mail(p: MailParams, key: str, value: str | None, offered: Offered) -> MailParams:
    if key == "SIZE" and offered.size:
        return replace(p, size=_size(value, offered.max_size))
    if key == "BODY" and (offered.eightbitmime or offered.binarymime):
        return replace(p, body=_body(value, offered))
    if key == "SMTPUTF8" and offered.smtputf8:
        if value is not None:
            raise ParamError(replies.param_syntax("SMTPUTF8 takes no value"))
        return replace(p, smtputf8=True)
    if key == "AUTH" and offered.auth:
        return replace(p, auth=xtext_decode(_need_value(key, value)))
    if key == "REQUIRETLS" and offered.requiretls:
        if value is not None:
            raise ParamError(replies.param_syntax("REQUIRETLS takes no value"))
        return replace(p, requiretls=True)
    if key == "RET" and offered.dsn:
        return replace(p, ret=_choice(key, value, ("FULL", "HDRS")))
    if key == "ENVID" and offered.dsn:
        return replace(p, envid=_envid(value))
    raise ParamError(replies.param_unknown(f"{key} parameter not supported"))


def parse_mail_params(text: str, offered: Offered) -> MailParams:
    """Parse the parameters after the reverse-path of MAIL FROM."""
    params = MailParams()
    for key, value in split_params(text):
        params = _apply_mail(params, key, value, offered)
    return params


def _notify(value: str | None) -> tuple[str, ...]:
    """RFC 3461 4.1: NEVER alone, or a list of SUCCESS, FAILURE, DELAY."""
    items = _need_value("NOTIFY", value).upper().split(",", len(_NOTIFY_EVENTS) + 1)
    if items == ["NEVER"]:
        return ("NEVER",)
    if len(set(items)) != len(items) or not all(i in _NOTIFY_EVENTS for i in items):
        raise ParamError(replies.param_syntax("Bad NOTIFY value"))
    return tuple(items)


def _orcpt(value: str | None) -> Orcpt:
    """RFC 3461 4.2: ORCPT=addr-type ";" xtext."""
    raw = _need_value("ORCPT", value)
    addr_type, semi, encoded = raw.partition(";")
    if len(raw) > MAX_ORCPT or not semi or not _ATOM_RE.fullmatch(addr_type) or not encoded:
        raise ParamError(replies.param_syntax("Bad ORCPT value"))
    return Orcpt(addr_type.lower(), xtext_decode(encoded))


def parse_rcpt_params(text: str, offered: Offered) -> RcptParams:
    """Parse the parameters after the forward-path of RCPT TO."""
    params = RcptParams()
    for key, value in split_params(text):
        if key == "NOTIFY" and offered.dsn:
            params = replace(params, notify=_notify(value))
        elif key == "ORCPT" and offered.dsn:
            params = replace(params, orcpt=_orcpt(value))
        else:
            raise ParamError(replies.param_unknown(f"{key} parameter not supported"))
    return params
