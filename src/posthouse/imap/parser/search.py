"""SEARCH and UID SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4, ESEARCH RFC 4731, SEARCHRES
RFC 5182) into the criteria tree of posthouse.imap.search."""

from __future__ import annotations

from collections.abc import Callable

from posthouse.imap import commands as c
from posthouse.imap.parser.cursor import ATOM_CHARS, MAX_NUMBER64, Cursor, decode_text
from posthouse.imap.replies import SUPPORTED_CHARSETS, ParseError, bad_charset
from posthouse.imap.search import (
    RETURN_OPTIONS,
    AllKey,
    And,
    DateField,
    DateKey,
    DateOp,
    FlagKey,
    HeaderKey,
    ModSeqKey,
    Not,
    ObjectIdKey,
    Or,
    SearchKey,
    SeqKey,
    SizeKey,
    TextField,
    TextKey,
)
from posthouse.store.models import RECENT, SEEN, SYSTEM_FLAGS

MAX_DEPTH = 32  # nesting of parentheses, NOT and OR
_SEQ_START = frozenset(b"0123456789*$")

# ANSWERED, UNANSWERED ... RECENT (no UNRECENT): the flag and whether it must be present.
_FLAG_KEYS = {
    name: (flag, present)
    for flag in (*SYSTEM_FLAGS, RECENT)
    for name, present in ((flag[1:].upper(), True), ("UN" + flag[1:].upper(), False))
    if name != "UNRECENT"
}
_NEW = And((FlagKey(RECENT), FlagKey(SEEN, False)))
_HEADER_KEYS = ("BCC", "CC", "FROM", "SUBJECT", "TO")
_OBJECTID_CHARS = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_DATE_KEYS = {
    prefix + op.name: (field, op)
    for prefix, field in (("", DateField.INTERNAL), ("SENT", DateField.SENT),
                          ("SAVED", DateField.SAVED))
    for op in DateOp
}


def _string(cur: Cursor) -> str:
    """A search string; text that is not UTF-8 is NO [BADCHARSET], not BAD: the command is
    well formed, its text is in no charset we search in (RFC 9051 6.4.4, RFC 6855 3)."""
    cur.sp()
    raw = cur.astring(any_octets=True)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_charset() from None


def _modseq(cur: Cursor) -> ModSeqKey:
    """``MODSEQ [entry-name SP entry-type-req SP] mod-sequence-valzer`` (RFC 7162 3.1.5)."""
    cur.sp()
    entry = None
    if cur.peek() == 0x22 or cur.at_literal():
        entry = decode_text(cur.string(), "entry name")
        cur.sp()
        if cur.keyword() not in ("PRIV", "SHARED", "ALL"):
            raise ParseError("Invalid MODSEQ entry type")
        cur.sp()
    return ModSeqKey(cur.number(limit=MAX_NUMBER64), entry)


def _named_key(name: str, cur: Cursor, depth: int) -> SearchKey:
    """The key introduced by the keyword ``name`` (already consumed)."""
    parser = _KEYS.get(name)
    if parser is not None:
        return parser(cur, depth)
    if name in _FLAG_KEYS:
        flag, present = _FLAG_KEYS[name]
        return FlagKey(flag, present)
    if name in _HEADER_KEYS:
        return HeaderKey(name.lower(), _string(cur))
    if name in _DATE_KEYS:
        field, op = _DATE_KEYS[name]
        cur.sp()
        return DateKey(field, op, cur.date())
    raise ParseError(f"Unknown search key {name}")


def _objectid(cur: Cursor) -> str:
    """``objectid = 1*255(ALPHA / DIGIT / "_" / "-")`` (RFC 8474 7)."""
    cur.sp()
    value = cur.take_while(_OBJECTID_CHARS)
    if not 1 <= len(value) <= 255:
        raise ParseError("Expected an object id")
    return value.decode("ascii")


def _header(cur: Cursor) -> HeaderKey:
    field = _string(cur).lower()
    return HeaderKey(field, _string(cur))


def _flag(cur: Cursor) -> str:
    cur.sp()
    return cur.flag()


def _size(cur: Cursor) -> int:
    cur.sp()
    return cur.number(limit=MAX_NUMBER64)


def _uid(cur: Cursor) -> SeqKey:
    cur.sp()
    return SeqKey(cur.sequence_set(), uid=True)


def _sp_key(cur: Cursor, depth: int) -> SearchKey:
    cur.sp()
    return search_key(cur, depth)


_KEYS: dict[str, Callable[[Cursor, int], SearchKey]] = {
    "ALL": lambda cur, depth: AllKey(),
    # RFC 8514 4.1: every mailbox keeps save dates, so it matches every message
    "SAVEDATESUPPORTED": lambda cur, depth: AllKey(),
    "EMAILID": lambda cur, depth: ObjectIdKey(False, _objectid(cur)),  # RFC 8474 6
    "THREADID": lambda cur, depth: ObjectIdKey(True, _objectid(cur)),
    "NEW": lambda cur, depth: _NEW,
    "OLD": lambda cur, depth: FlagKey(RECENT, False),
    "BODY": lambda cur, depth: TextKey(TextField.BODY, _string(cur)),
    "TEXT": lambda cur, depth: TextKey(TextField.TEXT, _string(cur)),
    "HEADER": lambda cur, depth: _header(cur),
    "KEYWORD": lambda cur, depth: FlagKey(_flag(cur)),
    "UNKEYWORD": lambda cur, depth: FlagKey(_flag(cur), False),
    "LARGER": lambda cur, depth: SizeKey(True, _size(cur)),
    "SMALLER": lambda cur, depth: SizeKey(False, _size(cur)),
    "NOT": lambda cur, depth: Not(_sp_key(cur, depth + 1)),
    "OR": lambda cur, depth: Or(_sp_key(cur, depth + 1), _sp_key(cur, depth + 1)),
    "UID": lambda cur, depth: _uid(cur),
    "MODSEQ": lambda cur, depth: _modseq(cur),
}


def search_key(cur: Cursor, depth: int = 0) -> SearchKey:
    """One search-key (recursive, depth-limited)."""
    if depth > MAX_DEPTH:
        raise ParseError("Search criteria nested too deeply")
    byte = cur.peek()
    if byte == 0x28:  # "("
        keys = cur.paren_list(lambda: search_key(cur, depth + 1), allow_empty=False)
        return keys[0] if len(keys) == 1 else And(tuple(keys))
    if byte is not None and byte in _SEQ_START:
        return SeqKey(cur.sequence_set())
    return _named_key(cur.keyword(), cur, depth)


def _returns(cur: Cursor) -> frozenset[str] | None:
    """``RETURN (opt ...)`` (RFC 4731 3.1); ``RETURN ()`` means ALL."""
    if cur.peek_run(ATOM_CHARS).upper() != b"RETURN":
        return None
    cur.keyword()
    cur.sp()
    options = frozenset(cur.paren_list(cur.keyword))
    unknown = options - RETURN_OPTIONS
    if unknown:
        raise ParseError(f"Unknown SEARCH return option {min(unknown)}")
    cur.sp()
    return options or frozenset({"ALL"})


def _charset(cur: Cursor) -> str | None:
    if cur.peek_run(ATOM_CHARS).upper() != b"CHARSET":
        return None
    cur.keyword()
    cur.sp()
    charset = decode_text(cur.astring(), "charset").upper()
    if charset not in SUPPORTED_CHARSETS:
        raise bad_charset()
    cur.sp()
    return charset


def parse_search(cur: Cursor, *, uid: bool = False) -> c.SearchCommand:
    """``SEARCH [RETURN (...)] [CHARSET name] key *(SP key)``."""
    cur.sp()
    returns = _returns(cur)
    charset = _charset(cur)
    keys = [search_key(cur)]
    while not cur.at_end():
        cur.sp()
        keys.append(search_key(cur))
    criteria = keys[0] if len(keys) == 1 else And(tuple(keys))
    return c.SearchCommand(criteria, charset, returns, uid)
