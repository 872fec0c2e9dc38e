"""LIST (RFC 9051 6.3.9, LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819, SPECIAL-USE RFC 6154,
LIST-METADATA RFC 9590) and LSUB."""

from __future__ import annotations

from collections.abc import Callable

from posthouse.imap import commands as c
from posthouse.imap.parser.cursor import Cursor
from posthouse.imap.parser.mailbox import status_item
from posthouse.imap.parser.metadata import list_metadata
from posthouse.imap.replies import ParseError
from posthouse.imap.responses import Status

SELECT_OPTIONS = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
RETURN_OPTIONS = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS", "METADATA"})


def _select_options(cur: Cursor) -> frozenset[str]:
    options = frozenset(cur.paren_list(cur.keyword))
    unknown = options - SELECT_OPTIONS
    if unknown:
        raise ParseError(f"Unknown LIST selection option {min(unknown)}")
    if "RECURSIVEMATCH" in options and not options - {"RECURSIVEMATCH", "REMOTE"}:
        raise ParseError("RECURSIVEMATCH needs another selection option")  # RFC 5258 3.1
    return options


def _return_options(
    cur: Cursor,
) -> tuple[frozenset[str], tuple[str, ...], c.MetadataRequest | None]:
    cur.sp()
    if cur.keyword() != "RETURN":
        raise ParseError("Expected RETURN")
    cur.sp()
    options: set[str] = set()
    status: list[str] = []
    metadata: list[c.MetadataRequest] = []

    def option() -> str:
        name = cur.keyword()
        if name not in RETURN_OPTIONS:
            raise ParseError(f"Unknown LIST return option {name}")
        if name == "STATUS":
            cur.sp()
            status.extend(cur.paren_list(lambda: status_item(cur), allow_empty=False))
        elif name == "METADATA":
            cur.sp()
            metadata.append(list_metadata(cur))
        options.add(name)
        return name

    cur.paren_list(option)
    return frozenset(options), tuple(dict.fromkeys(status)), metadata[-1] if metadata else None


def parse_list(cur: Cursor) -> c.ListCommand:
    """``LIST [(select-opts)] reference (pattern | (patterns)) [RETURN (opts)]``."""
    cur.sp()
    select: frozenset[str] = frozenset()
    extended = False
    if cur.peek() == 0x28:  # "("
        select = _select_options(cur)
        extended = True
        cur.sp()
    reference = _reference(cur)  # often "" (RFC 9051 6.3.9)
    cur.sp()
    patterns: tuple[str | None, ...]
    if cur.peek() == 0x28:
        patterns = tuple(cur.paren_list(cur.list_mailbox, allow_empty=False))
        extended = True
    else:
        patterns = (cur.list_mailbox(),)
    if reference is None:  # names below a reference that does not decode: none
        reference, patterns = "", tuple(None for _ in patterns)
    returns: frozenset[str] = frozenset()
    status: tuple[str, ...] = ()
    metadata: c.MetadataRequest | None = None
    if not cur.at_end():
        returns, status, metadata = _return_options(cur)
        extended = True
    return c.ListCommand(reference, patterns, select, returns, status, extended, metadata)


def _reference(cur: Cursor) -> str | None:
    """The reference name; None when it does not decode (issue 14: then nothing matches)."""
    try:
        return cur.mailbox()
    except ParseError as exc:
        if exc.status is not Status.NO:  # a grammar error stays BAD
            raise
        return None


def parse_lsub(cur: Cursor) -> c.LsubCommand:
    """``LSUB reference pattern``."""
    cur.sp()
    reference = _reference(cur)
    cur.sp()
    pattern = cur.list_mailbox()
    return c.LsubCommand(reference or "", pattern if reference is not None else None)


PARSERS: dict[str, Callable[[Cursor], c.ImapCommand]] = {
    "LIST": parse_list,
    "LSUB": parse_lsub,
}
