"""Mailbox commands: SELECT EXAMINE CREATE DELETE RENAME (UN)SUBSCRIBE STATUS, and QUOTA."""

from __future__ import annotations

from collections.abc import Callable

from posthouse.imap import commands as c
from posthouse.imap.parser.cursor import MAX_NUMBER64, Cursor, decode_text
from posthouse.imap.replies import ParseError, ResponseCode
from posthouse.imap.responses import Status as Cond
from posthouse.imap.sequence import SequenceSet

STATUS_ITEMS = frozenset({
    "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT",
    "HIGHESTMODSEQ",
    "MAILBOXID",  # RFC 8474 4.3
})
USE_ATTRIBUTES = {
    a.lower(): a
    for a in ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash",
              "\\Important")
}


def _known_set(cur: Cursor) -> SequenceSet:
    """A sequence set without ``*`` or ``$`` (RFC 7162 7: known-uids, seq-match-data)."""
    found = cur.sequence_set()
    if found.saved or any(None in r for r in found.ranges):
        raise ParseError("Invalid QRESYNC sequence set")
    return found


def _seq_match(cur: Cursor) -> tuple[SequenceSet, SequenceSet]:
    """``"(" known-sequence-set SP known-uid-set ")"``."""
    cur.expect(b"(")
    numbers = _known_set(cur)
    cur.sp()
    uids = _known_set(cur)
    cur.expect(b")")
    return numbers, uids


def _qresync(cur: Cursor) -> c.QresyncParams:
    """``"(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"``."""
    cur.expect(b"(")
    uidvalidity = cur.number(nonzero=True)
    cur.sp()
    modseq = cur.number(nonzero=True, limit=MAX_NUMBER64)
    known: SequenceSet | None = None
    match: tuple[SequenceSet, SequenceSet] | None = None
    if cur.accept(b" "):
        if cur.peek() == 0x28:
            match = _seq_match(cur)
        else:
            known = _known_set(cur)
            if cur.accept(b" "):
                match = _seq_match(cur)
    cur.expect(b")")
    return c.QresyncParams(uidvalidity, modseq, known, match)


def _select_params(cur: Cursor) -> tuple[bool, c.QresyncParams | None]:
    """``[SP "(" select-param *(SP select-param) ")"]``: CONDSTORE, QRESYNC (RFC 7162)."""
    if cur.at_end():
        return False, None
    cur.sp()
    condstore, qresync = False, None

    def param() -> None:
        nonlocal condstore, qresync
        name = cur.keyword()
        if name == "CONDSTORE":
            condstore = True
        elif name == "QRESYNC" and qresync is None:
            cur.sp()
            qresync = _qresync(cur)
        else:
            raise ParseError(f"Unsupported SELECT parameter {name}")

    cur.paren_list(param)
    return condstore, qresync


def parse_select(cur: Cursor) -> c.SelectCommand:
    """``SELECT mailbox [params]``."""
    cur.sp()
    mailbox = cur.mailbox()
    return c.SelectCommand(mailbox, *_select_params(cur))


def parse_examine(cur: Cursor) -> c.ExamineCommand:
    """``EXAMINE mailbox [params]``."""
    cur.sp()
    mailbox = cur.mailbox()
    return c.ExamineCommand(mailbox, *_select_params(cur))


def _use_attr(cur: Cursor) -> str:
    flag = cur.flag()
    attr = USE_ATTRIBUTES.get(flag.lower())
    if attr is None:
        raise ParseError(
            f"Unsupported special-use attribute {flag}",
            status=Cond.NO, code=ResponseCode.USEATTR.code(),
        )
    return attr


def parse_create(cur: Cursor) -> c.CreateCommand:
    """``CREATE mailbox [SP "(" "USE" SP "(" use-attr* ")" ")"]`` (RFC 6154 3)."""
    cur.sp()
    mailbox = cur.mailbox()
    uses: list[str] = []
    if not cur.at_end():
        cur.sp()
        cur.expect(b"(")
        while True:
            if cur.keyword() != "USE":
                raise ParseError("Unsupported CREATE parameter")
            cur.sp()
            uses.extend(cur.paren_list(lambda: _use_attr(cur)))
            if cur.accept(b")"):
                break
            cur.sp()
    return c.CreateCommand(mailbox, tuple(dict.fromkeys(uses)))


def _one_mailbox(
    cls: type[c.DeleteCommand | c.SubscribeCommand | c.UnsubscribeCommand | c.GetQuotaRootCommand],
) -> Callable[[Cursor], c.ImapCommand]:
    def parse(cur: Cursor) -> c.ImapCommand:
        cur.sp()
        return cls(cur.mailbox())

    return parse


def parse_rename(cur: Cursor) -> c.RenameCommand:
    """``RENAME old new``."""
    cur.sp()
    old = cur.mailbox()
    cur.sp()
    return c.RenameCommand(old, cur.mailbox())


def status_item(cur: Cursor) -> str:
    """One STATUS data item name."""
    item = cur.keyword()
    if item not in STATUS_ITEMS:
        raise ParseError(f"Unknown STATUS item {item}")
    return item


def parse_status(cur: Cursor) -> c.StatusCommand:
    """``STATUS mailbox (item ...)``."""
    cur.sp()
    mailbox = cur.mailbox()
    cur.sp()
    items = cur.paren_list(lambda: status_item(cur), allow_empty=False)
    return c.StatusCommand(mailbox, tuple(dict.fromkeys(items)))


def parse_getquota(cur: Cursor) -> c.GetQuotaCommand:
    """``GETQUOTA quota-root`` (RFC 9208 4.2)."""
    cur.sp()
    return c.GetQuotaCommand(decode_text(cur.astring(), "quota root"))


def _limit(cur: Cursor) -> tuple[str, int]:
    name = cur.keyword()
    cur.sp()
    return name, cur.number(limit=(1 << 63) - 1)


def parse_setquota(cur: Cursor) -> c.SetQuotaCommand:
    """``SETQUOTA root (resource limit ...)`` (RFC 9208 4.3)."""
    cur.sp()
    root = decode_text(cur.astring(), "quota root")
    cur.sp()
    return c.SetQuotaCommand(root, tuple(cur.paren_list(lambda: _limit(cur))))


PARSERS: dict[str, Callable[[Cursor], c.ImapCommand]] = {
    "SELECT": parse_select,
    "EXAMINE": parse_examine,
    "CREATE": parse_create,
    "DELETE": _one_mailbox(c.DeleteCommand),
    "RENAME": parse_rename,
    "SUBSCRIBE": _one_mailbox(c.SubscribeCommand),
    "UNSUBSCRIBE": _one_mailbox(c.UnsubscribeCommand),
    "STATUS": parse_status,
    "GETQUOTA": parse_getquota,
    "GETQUOTAROOT": _one_mailbox(c.GetQuotaRootCommand),
    "SETQUOTA": parse_setquota,
}
