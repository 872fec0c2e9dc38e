"""AUTHENTICATE, LOGIN, ENABLE and ID (RFC 9051 6.2, RFC 4959, RFC 5161, RFC 2971)."""

from __future__ import annotations

from collections.abc import Callable

from posthouse.imap import commands as c
from posthouse.imap.parser.cursor import Cursor, decode_text
from posthouse.imap.replies import ParseError

_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
ID_MAX_PAIRS = 30
ID_MAX_FIELD = 30
ID_MAX_VALUE = 1024


def parse_authenticate(cur: Cursor) -> c.AuthenticateCommand:
    """``AUTHENTICATE mech [initial-response]`` (RFC 4959); the response is kept as sent
    (base64 text, ``=`` for an empty one): only the SASL mechanism decodes it."""
    cur.sp()
    mechanism = cur.keyword()
    if cur.at_end():
        return c.AuthenticateCommand(mechanism)
    cur.sp()
    raw = cur.take_while(_B64)
    if not raw:
        raise ParseError("Expected an initial response")
    return c.AuthenticateCommand(mechanism, raw)


def parse_login(cur: Cursor) -> c.LoginCommand:
    """``LOGIN userid password`` (astrings, UTF-8)."""
    cur.sp()
    user = decode_text(cur.astring(), "user name")
    cur.sp()
    password = decode_text(cur.astring(), "password")
    return c.LoginCommand(user, password)


def parse_enable(cur: Cursor) -> c.EnableCommand:
    """``ENABLE capability *(SP capability)``."""
    caps = []
    while not cur.at_end():
        cur.sp()
        caps.append(cur.keyword())
    if not caps:
        raise ParseError("ENABLE needs at least one capability")
    return c.EnableCommand(tuple(caps))


def _id_pair(cur: Cursor) -> tuple[str, str | None]:
    key = decode_text(cur.string(), "ID field")
    cur.sp()
    raw = cur.nstring()
    value = None if raw is None else decode_text(raw, "ID value")
    if len(key.encode()) > ID_MAX_FIELD or (value is not None and len(raw or b"") > ID_MAX_VALUE):
        raise ParseError("ID field or value too long")
    return key, value


def parse_id(cur: Cursor) -> c.IdCommand:
    """``ID ("name" "value" ...)`` or ``ID NIL``; limits from RFC 2971 3.3."""
    cur.sp()
    if cur.accept(b"NIL"):
        return c.IdCommand(None)
    cur.expect(b"(")
    pairs: list[tuple[str, str | None]] = []
    if not cur.accept(b")"):
        pairs.append(_id_pair(cur))
        while not cur.accept(b")"):
            cur.sp()
            pairs.append(_id_pair(cur))
            if len(pairs) > ID_MAX_PAIRS:
                raise ParseError("Too many ID fields")
    return c.IdCommand(tuple(pairs))


PARSERS: dict[str, Callable[[Cursor], c.ImapCommand]] = {
    "AUTHENTICATE": parse_authenticate,
    "LOGIN": parse_login,
    "ENABLE": parse_enable,
    "ID": parse_id,
}
