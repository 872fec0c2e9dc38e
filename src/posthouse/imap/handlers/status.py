"""STATUS (RFC 9051 6.3.11, STATUS=SIZE RFC 8438) and QUOTA (RFC 9208).

The quota has one root, ``""``, covering all of the user's mailboxes; its STORAGE resource
is counted in units of 1024 octets (RFC 9208 5.1). A user without a quota has no root.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from posthouse.imap import commands as c
from posthouse.imap import objectid
from posthouse.imap.handlers.context import CommandHandler, HandlerContext, ok
from posthouse.imap.replies import ImapError, ResponseCode
from posthouse.imap.responses import Atom, Response, Untagged, Value
from posthouse.store.models import Mailbox, MailboxCounts

QUOTA_ROOT = ""


def check_status_items(ctx: HandlerContext, items: Sequence[str]) -> None:
    """Items that change the session: HIGHESTMODSEQ enables CONDSTORE (RFC 7162 3.1)."""
    if "HIGHESTMODSEQ" in items:
        ctx.enable_condstore()


def _recent(ctx: HandlerContext, box: Mailbox, counts: MailboxCounts) -> int:
    """\\Recent in this session for the selected mailbox; elsewhere the messages no session
    has claimed yet (what the next SELECT would see, RFC 3501 6.3.10)."""
    selected = ctx.selected
    if selected is not None and selected.mailbox.id == box.id:
        return selected.view.recent_count
    return counts.recent


def _item(ctx: HandlerContext, box: Mailbox, counts: MailboxCounts, item: str) -> Value:
    values = {
        "MESSAGES": counts.messages, "UIDNEXT": counts.uidnext,
        "UIDVALIDITY": counts.uidvalidity, "UNSEEN": counts.unseen,
        "DELETED": counts.deleted, "SIZE": counts.size,
        "HIGHESTMODSEQ": counts.highestmodseq,
    }
    if item == "RECENT":
        return _recent(ctx, box, counts)
    if item == "MAILBOXID":
        return [Atom(objectid.mailbox_id(box))]
    return values[item]


async def status_response(ctx: HandlerContext, box: Mailbox, items: Sequence[str]) -> Untagged:
    """``* STATUS name (item value ...)`` for one mailbox (also used by LIST-STATUS)."""
    counts = await ctx.store.mailbox_counts(box.id)
    data: list[Value] = []
    for item in items:
        data += [Atom(item), _item(ctx, box, counts, item)]
    return Untagged((Atom("STATUS"), ctx.mailbox_name(box.name), data))


async def handle_status(
    ctx: HandlerContext, tag: str, cmd: c.StatusCommand
) -> AsyncIterator[Response]:
    """STATUS mailbox (items)."""
    check_status_items(ctx, cmd.items)
    box = await ctx.mailbox(cmd.mailbox)
    yield await status_response(ctx, box, cmd.items)
    yield ok(tag, "STATUS completed")


async def _quota_line(ctx: HandlerContext) -> Untagged | None:
    user = await ctx.store.get_user_by_id(ctx.user_id)
    if user is None or not user.quota_bytes:
        return None
    used, _count = await ctx.store.quota_usage(ctx.user_id)
    storage: list[Value] = [Atom("STORAGE"), -(-used // 1024), user.quota_bytes // 1024]
    return Untagged((Atom("QUOTA"), QUOTA_ROOT, storage))


async def handle_getquotaroot(
    ctx: HandlerContext, tag: str, cmd: c.GetQuotaRootCommand
) -> AsyncIterator[Response]:
    """``* QUOTAROOT name [""]`` and the root's QUOTA (RFC 9208 4.3.2)."""
    box = await ctx.mailbox(cmd.mailbox)
    line = await _quota_line(ctx)
    roots: tuple[Value, ...] = (QUOTA_ROOT,) if line is not None else ()
    yield Untagged((Atom("QUOTAROOT"), ctx.mailbox_name(box.name), *roots))
    if line is not None:
        yield line
    yield ok(tag, "GETQUOTAROOT completed")


async def handle_getquota(
    ctx: HandlerContext, tag: str, cmd: c.GetQuotaCommand
) -> AsyncIterator[Response]:
    """``* QUOTA "" (STORAGE used limit)`` (RFC 9208 4.3.1)."""
    line = await _quota_line(ctx) if cmd.root == QUOTA_ROOT else None
    if line is None:
        raise ImapError("No such quota root", code=ResponseCode.NONEXISTENT.code())
    yield line
    yield ok(tag, "GETQUOTA completed")


async def handle_setquota(
    ctx: HandlerContext, tag: str, cmd: c.SetQuotaCommand
) -> AsyncIterator[Response]:
    """Quotas are set by the administrator only (RFC 9208 4.3.3 allows NO)."""
    raise ImapError("Quotas are set by the administrator", code=ResponseCode.NOPERM.code())
    yield  # pragma: no cover - makes this an async generator


HANDLERS: dict[type[c.ImapCommand], CommandHandler] = {
    c.StatusCommand: handle_status,
    c.GetQuotaCommand: handle_getquota,
    c.GetQuotaRootCommand: handle_getquotaroot,
    c.SetQuotaCommand: handle_setquota,
}
