"""NOTIFY (RFC 5465 3, grammar in 8): ``NOTIFY NONE`` and ``NOTIFY SET [STATUS] groups``.

The request is built here and checked by ``NotifySpec.validate`` (imap/notify.py): BAD for
what the grammar or the rules of 5 and 6 forbid, ``NO [BADEVENT (...)]`` for events this
server does not support. Event, filter and keyword names are case-insensitive.
"""

from __future__ import annotations

from posthouse.imap import commands as c
from posthouse.imap.fetchitems import FetchItem
from posthouse.imap.notify import (
    EVENTS_BY_NAME,
    FILTERS_BY_NAME,
    EventGroup,
    FilterKind,
    MailboxFilter,
    NotifyEvent,
    NotifySpec,
)
from posthouse.imap.parser.cursor import Cursor
from posthouse.imap.parser.fetch import fetch_att
from posthouse.imap.replies import ParseError

_FILTER_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-")


def _mailboxes(cur: Cursor) -> tuple[str, ...]:
    """``one-or-more-mailbox``: a mailbox or ``"(" mailbox *(SP mailbox) ")"``."""
    if cur.peek() == 0x28:
        return tuple(dict.fromkeys(cur.paren_list(cur.mailbox, allow_empty=False)))
    return (cur.mailbox(),)


def _filter(cur: Cursor) -> MailboxFilter:
    word = cur.take_while(_FILTER_CHARS).decode("ascii").upper()
    kind = FILTERS_BY_NAME.get(word)
    if kind is None:
        raise ParseError(f"Unknown NOTIFY mailbox filter {word or '?'}")
    if kind in (FilterKind.SUBTREE, FilterKind.MAILBOXES):
        cur.sp()
        return MailboxFilter(kind, _mailboxes(cur))
    return MailboxFilter(kind)


def _events(cur: Cursor, unknown: list[str]) -> tuple[frozenset[NotifyEvent],
                                                         tuple[FetchItem, ...]]:
    """``"(" event *(SP event) ")"`` or ``NONE``; unknown (extension) names go to
    ``unknown``."""
    if cur.peek() != 0x28:
        if cur.keyword() != "NONE":
            raise ParseError("Expected a list of events or NONE")
        return frozenset(), ()
    events: set[NotifyEvent] = set()
    items: tuple[FetchItem, ...] = ()

    def event() -> None:
        nonlocal items
        name = cur.atom("event")
        found = EVENTS_BY_NAME.get(name.upper())
        if found is None:
            unknown.append(name)
            return
        if found is NotifyEvent.MESSAGE_NEW and cur.accept(b" ("):
            atts = [fetch_att(cur)]
            while not cur.accept(b")"):
                cur.sp()
                atts.append(fetch_att(cur))
            items = tuple(dict.fromkeys(atts))
        events.add(found)

    cur.paren_list(event, allow_empty=False)
    return frozenset(events), items


def _group(cur: Cursor, unknown: list[str]) -> EventGroup:
    """``"(" filter-mailboxes SP events ")"``."""
    cur.expect(b"(")
    mailbox_filter = _filter(cur)
    cur.sp()
    events, items = _events(cur, unknown)
    cur.expect(b")")
    return EventGroup(mailbox_filter, events, items)


def parse_notify(cur: Cursor) -> c.NotifyCommand:
    """``NOTIFY SP ("NONE" / "SET" [SP "STATUS"] SP event-group *(SP event-group))``."""
    cur.sp()
    word = cur.keyword()
    if word == "NONE":
        return c.NotifyCommand(None)
    if word != "SET":
        raise ParseError("NOTIFY takes SET or NONE")
    cur.sp()
    status = False
    if cur.peek() != 0x28:
        if cur.keyword() != "STATUS":
            raise ParseError("Expected STATUS or an event group")
        status = True
        cur.sp()
    unknown: list[str] = []
    groups = [_group(cur, unknown)]
    while not cur.at_end():
        cur.sp()
        groups.append(_group(cur, unknown))
    spec = NotifySpec(tuple(groups), status)
    spec.validate(tuple(unknown))
    return c.NotifyCommand(spec)


PARSERS = {"NOTIFY": parse_notify}
