"""FETCH and UID FETCH (RFC 9051 6.4.5, RFC 3516, RFC 7162 CHANGEDSINCE and VANISHED)."""

from __future__ import annotations

from posthouse.imap import commands as c
from posthouse.imap.fetchitems import (
    MACROS,
    Attr,
    BinarySize,
    BodySection,
    FetchItem,
    Section,
)
from posthouse.imap.parser.cursor import MAX_NUMBER64, Cursor, decode_text
from posthouse.imap.replies import ParseError

_NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.")
_SIMPLE = {a.value: a for a in Attr}
_MSGTEXT = ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT")


def _parts(words: list[str]) -> tuple[tuple[int, ...], list[str]]:
    parts: list[int] = []
    while words and words[0].isdigit():
        number = int(words.pop(0))
        if number == 0 or number > 0xFFFFFFFF:
            raise ParseError("Invalid section part number")
        parts.append(number)
    return tuple(parts), words


def _section(cur: Cursor, *, binary: bool) -> Section:
    """``"[" [section-spec] "]"``; a BINARY section is part numbers only."""
    cur.expect(b"[")
    raw = cur.take_while(_NAME_CHARS).decode("ascii").upper()
    parts, words = _parts(raw.split(".") if raw else [])
    text = ".".join(words) or None
    allowed = ("MIME", *_MSGTEXT) if parts else _MSGTEXT
    if (text is not None and (binary or text not in allowed)) or "" in words:
        raise ParseError("Invalid section")
    fields: tuple[str, ...] = ()
    if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        cur.sp()
        names = cur.paren_list(lambda: decode_text(cur.astring(), "header name"),
                               allow_empty=False)
        fields = tuple(names)
    cur.expect(b"]")
    return Section(parts, text, fields)


def _partial(cur: Cursor) -> tuple[int, int] | None:
    """``"<" number "." nz-number ">"``."""
    if not cur.accept(b"<"):
        return None
    origin = cur.number()
    cur.expect(b".")
    count = cur.number(nonzero=True)
    cur.expect(b">")
    return origin, count


def fetch_att(cur: Cursor) -> FetchItem:
    """One fetch-att."""
    name = cur.take_while(_NAME_CHARS).decode("ascii").upper()
    if name in ("BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK") and cur.peek() == 0x5B:
        binary = name.startswith("BINARY")
        section = _section(cur, binary=binary)
        return BodySection(section, _partial(cur), name.endswith(".PEEK"), binary)
    if name == "BINARY.SIZE":
        return BinarySize(_section(cur, binary=True).parts)
    attr = _SIMPLE.get(name)
    if attr is None:
        raise ParseError(f"Unknown FETCH item {name or '?'}")
    if attr is Attr.PREVIEW and cur.accept(b" ("):  # RFC 8970 5: PREVIEW (LAZY)
        modifiers = [cur.keyword()]
        while cur.accept(b" "):
            modifiers.append(cur.keyword())
        cur.expect(b")")
        if set(modifiers) != {"LAZY"}:  # computed at once either way, which LAZY allows
            raise ParseError("Unknown PREVIEW modifier")
    return attr


def _items(cur: Cursor) -> tuple[FetchItem, ...]:
    if cur.peek() == 0x28:
        return tuple(dict.fromkeys(cur.paren_list(lambda: fetch_att(cur), allow_empty=False)))
    macro = cur.peek_run(_NAME_CHARS).decode("ascii").upper()
    if macro in MACROS:
        cur.take_while(_NAME_CHARS)
        return MACROS[macro]
    return (fetch_att(cur),)


def _modifiers(cur: Cursor) -> tuple[int | None, bool]:
    """``[SP "(" modifier *(SP modifier) ")"]``: ``CHANGEDSINCE n`` (RFC 7162 3.1.4.1) and
    ``VANISHED`` (3.2.6); VANISHED needs CHANGEDSINCE (checked by the handler)."""
    if cur.at_end():
        return None, False
    cur.sp()
    changedsince: int | None = None
    vanished = False

    def modifier() -> None:
        nonlocal changedsince, vanished
        name = cur.keyword()
        if name == "CHANGEDSINCE" and changedsince is None:
            cur.sp()
            changedsince = cur.number(limit=MAX_NUMBER64)
        elif name == "VANISHED" and not vanished:
            vanished = True
        else:
            raise ParseError("Unsupported FETCH modifier")

    cur.paren_list(modifier, allow_empty=False)
    return changedsince, vanished


def parse_fetch(cur: Cursor, *, uid: bool = False) -> c.FetchCommand:
    """``FETCH sequence-set (items | macro) [modifiers]``."""
    cur.sp()
    sequence = cur.sequence_set()
    cur.sp()
    items = _items(cur)
    changedsince, vanished = _modifiers(cur)
    return c.FetchCommand(sequence, items, uid, changedsince, vanished)
