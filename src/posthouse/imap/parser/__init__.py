"""Command parsers: one module per command family and one table from name to parser.

``parse_command(raw, utf8=...)`` turns a RawCommand from the connection core into a typed command
(posthouse.imap.commands) or raises ParseError. ``utf8`` is True once the session has
enabled UTF8=ACCEPT or IMAP4rev2: mailbox names are then raw UTF-8 instead of modified
UTF-7 (RFC 6855 3, RFC 9051 5.1).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from posthouse.imap import commands as c
from posthouse.imap.events import RawCommand
from posthouse.imap.parser import (
    append,
    auth,
    fetch,
    mailbox,
    metadata,
    notify,
    search,
    simple,
    store,
)
from posthouse.imap.parser import list as list_
from posthouse.imap.parser.cursor import Cursor
from posthouse.imap.replies import ParseError

Parser = Callable[[Cursor], c.ImapCommand]

PARSERS: dict[str, Parser] = {
    **simple.PARSERS,
    **auth.PARSERS,
    **mailbox.PARSERS,
    **list_.PARSERS,
    **append.PARSERS,
    **metadata.PARSERS,
    **notify.PARSERS,
    "FETCH": fetch.parse_fetch,
    "STORE": store.parse_store,
    "COPY": store.parse_copy,
    "MOVE": store.parse_move,
    "SEARCH": search.parse_search,
}

# After "UID": the same grammar, with sequence sets of uids (RFC 9051 6.4.9, RFC 4315 2.1).
UID_PARSERS: dict[str, Parser] = {
    "FETCH": partial(fetch.parse_fetch, uid=True),
    "STORE": partial(store.parse_store, uid=True),
    "COPY": partial(store.parse_copy, uid=True),
    "MOVE": partial(store.parse_move, uid=True),
    "SEARCH": partial(search.parse_search, uid=True),
    "EXPUNGE": partial(store.parse_uid_expunge, uid=True),
}


def parse_command(raw: RawCommand, *, utf8: bool = False) -> c.ImapCommand:
    """Parse the arguments of ``raw`` by its command name; raise ParseError."""
    cur = Cursor(raw.args, utf8=utf8)
    if raw.name == "UID":
        cur.sp()
        sub = cur.keyword()
        parser = UID_PARSERS.get(sub)
        if parser is None:
            raise ParseError(f"Unknown UID command {sub}")
    else:
        found = PARSERS.get(raw.name)
        if found is None:
            raise ParseError(f"Unknown command {raw.name}")
        parser = found
    command = parser(cur)
    cur.end()
    return command


__all__ = ["PARSERS", "UID_PARSERS", "Cursor", "ParseError", "parse_command"]
