"""The server responses of an IMAP source, parsed (RFC 9051 7, RFC 3501 7): sans-IO.

A response arrives as one logical line in which every literal ``{n}\\r\\n`` is followed by
its n octets; ``tokenize`` turns such bytes into values: ``bytes`` for atoms, numbers and
strings, ``None`` for NIL, ``list`` for a parenthesized list. An atom keeps a bracketed part
with its spaces and parentheses (``BODY[]``, ``BODY[HEADER.FIELDS (MESSAGE-ID)]``). Helpers
read the FETCH, LIST, STATUS-like and response-code forms a migration needs. Never does IO.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

Value = bytes | None | list["Value"]

_LITERAL = re.compile(rb"\{(\d{1,12})\+?\}\r\n")
_ATOM_END = frozenset(b' ()"{\r\n')
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_DATE = re.compile(
    r"\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$")
_CODE = re.compile(rb"\[([A-Za-z0-9.-]+)(?: ([^\]]*))?\]")


class ResponseError(ValueError):
    """Bytes that are not a well-formed IMAP response."""


def tokenize(data: bytes) -> list[Value]:
    """Every value of one response line (literals already spliced in), in order."""
    values, pos = _parse_seq(data, 0, top=True)
    if pos != len(data):
        raise ResponseError(f"unexpected {data[pos:pos + 20]!r}")
    return values


def _parse_seq(data: bytes, pos: int, *, top: bool) -> tuple[list[Value], int]:
    out: list[Value] = []
    end = len(data)
    while pos < end:
        ch = data[pos]
        if ch == 0x20:
            pos += 1
        elif ch == 0x29:  # ")"
            if top:
                raise ResponseError("unbalanced ')'")
            return out, pos + 1
        elif ch == 0x28:  # "("
            inner, pos = _parse_seq(data, pos + 1, top=False)
            out.append(inner)
        elif ch == 0x22:  # '"'
            text, pos = _quoted(data, pos + 1)
            out.append(text)
        elif ch == 0x7B:  # "{"
            match = _LITERAL.match(data, pos)
            if match is None:
                raise ResponseError("bad literal")
            start = match.end()
            stop = start + int(match.group(1))
            if stop > end:
                raise ResponseError("literal longer than the response")
            out.append(data[start:stop])
            pos = stop
        elif ch in (0x0D, 0x0A):
            pos += 1
        else:
            atom, pos = _atom(data, pos)
            out.append(None if atom.upper() == b"NIL" else atom)
    if not top:
        raise ResponseError("unbalanced '('")
    return out, pos


def _quoted(data: bytes, pos: int) -> tuple[bytes, int]:
    buf = bytearray()
    while pos < len(data):
        ch = data[pos]
        if ch == 0x5C and pos + 1 < len(data):  # backslash escapes " and \
            buf.append(data[pos + 1])
            pos += 2
        elif ch == 0x22:
            return bytes(buf), pos + 1
        else:
            buf.append(ch)
            pos += 1
    raise ResponseError("unterminated quoted string")


def _atom(data: bytes, pos: int) -> tuple[bytes, int]:
    start, depth = pos, 0
    while pos < len(data):
        ch = data[pos]
        if ch == 0x5B:  # "[" opens a section: spaces and parentheses belong to the atom
            depth += 1
        elif ch == 0x5D and depth:
            depth -= 1
        elif depth == 0 and (ch in _ATOM_END or ch == 0x29):
            break
        pos += 1
    return data[start:pos], pos


def literal_size(line: bytes) -> int | None:
    """The octet count of the literal a received line announces at its end, or None."""
    if not line.endswith(b"}\r\n"):
        return None
    start = line.rfind(b"{")
    if start < 0:
        return None
    digits = line[start + 1:-3].rstrip(b"+")
    return int(digits) if digits.isdigit() else None


def response_code(text: bytes) -> tuple[str, bytes] | None:
    """The [CODE args] at the start of a status response's text, or None."""
    match = _CODE.match(text.lstrip())
    if match is None:
        return None
    return match.group(1).decode("ascii").upper(), match.group(2) or b""


def parse_internaldate(text: str) -> datetime:
    """An INTERNALDATE ``"dd-Mon-yyyy hh:mm:ss +zzzz"`` as an aware datetime (RFC 9051 9)."""
    match = _DATE.match(text)
    if match is None:
        raise ResponseError(f"bad INTERNALDATE {text!r}")
    day, mon, year, hh, mm, ss, sign, zh, zm = match.groups()
    month = _MONTHS.get(mon.lower())
    if month is None:
        raise ResponseError(f"bad month in INTERNALDATE {text!r}")
    offset = timedelta(hours=int(zh), minutes=int(zm))
    tz = timezone(-offset if sign == "-" else offset)
    return datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=tz)


@dataclass(frozen=True, slots=True)
class FetchedItem:
    """One FETCH response's data items that a migration asks for."""

    uid: int
    flags: frozenset[str] | None = None
    internaldate: datetime | None = None
    size: int | None = None
    body: bytes | None = None
    header: bytes | None = None  # a BODY[HEADER.FIELDS (...)] answer


def parse_fetch(values: list[Value]) -> FetchedItem | None:
    """The items of ``* n FETCH (...)`` as tokenized (without "*"), or None if no UID."""
    if len(values) < 3 or not isinstance(values[2], list):
        return None
    items = values[2]
    found: dict[str, Value] = {}
    for i in range(0, len(items) - 1, 2):
        name = items[i]
        if isinstance(name, bytes):
            found[name.decode("ascii", "replace").upper()] = items[i + 1]
    uid = found.get("UID")
    if not isinstance(uid, bytes) or not uid.isdigit():
        return None
    flags = found.get("FLAGS")
    date = found.get("INTERNALDATE")
    size = found.get("RFC822.SIZE")
    body = found.get("BODY[]")
    header = next((v for k, v in found.items() if k.startswith("BODY[HEADER")), None)
    return FetchedItem(
        uid=int(uid),
        flags=frozenset(f.decode("utf-8", "replace") for f in flags
                        if isinstance(f, bytes)) if isinstance(flags, list) else None,
        internaldate=(parse_internaldate(date.decode("ascii", "replace"))
                      if isinstance(date, bytes) else None),
        size=int(size) if isinstance(size, bytes) and size.isdigit() else None,
        body=body if isinstance(body, bytes) else None,
        header=header if isinstance(header, bytes) else None,
    )


@dataclass(frozen=True, slots=True)
class ListedFolder:
    """One LIST (or LSUB) answer: attributes, hierarchy delimiter, name as sent."""

    attributes: frozenset[str]
    delimiter: str | None
    raw_name: bytes


def parse_list(values: list[Value]) -> ListedFolder | None:
    """``* LIST (attrs) "delim" name [extended]`` as tokenized (without "*")."""
    if len(values) < 4 or not isinstance(values[1], list):
        return None
    attrs = frozenset(a.decode("ascii", "replace").lower() for a in values[1]
                      if isinstance(a, bytes))
    delim = values[2]
    name = values[3]
    if not isinstance(name, bytes) or isinstance(delim, list):
        return None
    return ListedFolder(attrs, None if delim is None else delim.decode("utf-8", "replace"),
                        name)


def first_personal_namespace(values: list[Value]) -> tuple[str, str | None] | None:
    """The first personal namespace (prefix, delimiter) of ``* NAMESPACE ...`` (RFC 2342)."""
    if len(values) < 2 or not isinstance(values[1], list) or not values[1]:
        return None
    first = values[1][0]
    if not isinstance(first, list) or len(first) < 2 or not isinstance(first[0], bytes):
        return None
    delim = first[1]
    return (first[0].decode("utf-8", "replace"),
            delim.decode("utf-8", "replace") if isinstance(delim, bytes) else None)
