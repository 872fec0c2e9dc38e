"""GETMETADATA and SETMETADATA (RFC 5464 5), with entry-name validation (3.2)."""

from __future__ import annotations

from collections.abc import Callable

from posthouse.imap import commands as c
from posthouse.imap.parser.cursor import Cursor, decode_mailbox
from posthouse.imap.replies import ParseError

_SCOPES = ("/private", "/shared")


def check_entry(raw: bytes, *, to_set: bool) -> str:
    """A valid entry name, lower-cased (case-insensitive, 3.2); BAD otherwise.

    US-ASCII from 0x20, no "*" or "%", "/private" or "/shared" first, no empty component
    and no "/" at the end. A name to set needs a component below the scope, and four
    components under a vendor tree (3.2); a name to get may be a scope alone (DEPTH)."""
    if not raw or not raw.isascii() or any(b < 0x20 for b in raw) or b"*" in raw or b"%" in raw:
        raise ParseError("Invalid entry name")
    name = raw.decode("ascii").lower()
    parts = name.split("/")
    if parts[0] != "" or "/" + parts[1] not in _SCOPES or "" in parts[1:]:
        raise ParseError(f"Invalid entry name {name}")
    if to_set and (len(parts) < 3 or (parts[2] == "vendor" and len(parts) < 5)):
        raise ParseError(f"Invalid entry name {name}: too short to set")
    return name


def _mailbox(cur: Cursor) -> str:
    """A mailbox name; "" (the server) stays "" (RFC 5464 4.1)."""
    raw = cur.astring()
    return decode_mailbox(raw, utf8=cur.utf8) if raw else ""


_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _options(cur: Cursor, maxsize: int | None = None,
             depth: int | None = 0) -> tuple[int | None, int | None]:
    """``option *(SP option) ")"`` after its "(": MAXSIZE n, DEPTH 0/1/infinity (4.2.1,
    4.2.2), over the values given."""
    while True:
        name = cur.keyword()
        cur.sp()
        if name == "MAXSIZE":
            maxsize = cur.number()
        elif name == "DEPTH":
            depth = _depth(cur)
        else:
            raise ParseError(f"Unknown GETMETADATA option {name}")
        if cur.accept(b")"):
            return maxsize, depth
        cur.sp()


def _depth(cur: Cursor) -> int | None:
    """``"0" / "1" / "infinity"`` (None)."""
    word = cur.atom("depth").lower()
    if word not in ("0", "1", "infinity"):
        raise ParseError("DEPTH is 0, 1 or infinity")
    return None if word == "infinity" else int(word)


def _entries(cur: Cursor) -> tuple[str, ...]:
    """``entry *(SP entry) ")"`` after the "(" of a list."""
    names = [check_entry(cur.astring(), to_set=False)]
    while not cur.accept(b")"):
        cur.sp()
        names.append(check_entry(cur.astring(), to_set=False))
    return tuple(names)


def parse_getmetadata(cur: Cursor) -> c.GetMetadataCommand:
    """``GETMETADATA [SP options] SP mailbox [SP options] SP entries``: the options are
    accepted before the mailbox (the grammar of 5) and after it (the examples of 4.2)."""
    cur.sp()
    maxsize: int | None = None
    depth: int | None = 0
    if cur.accept(b"("):
        maxsize, depth = _options(cur)
        cur.sp()
    mailbox = _mailbox(cur)
    cur.sp()
    if cur.accept(b"("):
        if cur.peek() not in _LETTERS:
            return c.GetMetadataCommand(mailbox, _entries(cur), maxsize, depth)
        maxsize, depth = _options(cur, maxsize, depth)
        cur.sp()
        if cur.accept(b"("):
            return c.GetMetadataCommand(mailbox, _entries(cur), maxsize, depth)
    entry = check_entry(cur.astring(), to_set=False)
    return c.GetMetadataCommand(mailbox, (entry,), maxsize, depth)


def list_metadata(cur: Cursor) -> c.MetadataRequest:
    """RFC 9590's ``METADATA`` return option argument: ``"(" item *(SP item) ")"`` where an
    item is an entry name or a GETMETADATA option (MAXSIZE n, DEPTH d), in any order."""
    cur.expect(b"(")
    names: list[str] = []
    maxsize: int | None = None
    depth: int | None = 0
    while True:
        if cur.peek() is not None and cur.peek() in _LETTERS:
            word = cur.keyword()
            cur.sp()
            if word == "MAXSIZE":
                maxsize = cur.number()
            elif word == "DEPTH":
                depth = _depth(cur)
            else:
                raise ParseError(f"Unknown METADATA option {word}")
        else:
            names.append(check_entry(cur.astring(), to_set=False))
        if cur.accept(b")"):
            break
        cur.sp()
    if not names:
        raise ParseError("METADATA needs entry names")
    return c.MetadataRequest(tuple(names), maxsize, depth)


def parse_setmetadata(cur: Cursor) -> c.SetMetadataCommand:
    """``SETMETADATA SP mailbox SP "(" entry SP value *(SP entry SP value) ")"``; a value
    is NIL (delete), a string or a literal8 (4.3)."""
    cur.sp()
    mailbox = _mailbox(cur)
    cur.sp()

    def pair() -> tuple[str, bytes | None]:
        name = check_entry(cur.astring(), to_set=True)
        cur.sp()
        if cur.at_literal():
            return name, cur.literal().data  # literal or literal8: NUL allowed in either
        return name, cur.nstring()

    entries = cur.paren_list(pair, allow_empty=False)
    return c.SetMetadataCommand(mailbox, tuple(entries))


PARSERS: dict[str, Callable[[Cursor], c.ImapCommand]] = {
    "GETMETADATA": parse_getmetadata,
    "SETMETADATA": parse_setmetadata,
}
