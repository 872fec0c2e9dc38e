"""SELECT, EXAMINE, CLOSE, UNSELECT (RFC 9051 6.3.2, 6.3.3, 6.4.1, 6.4.2; RFC 3501 6.3.1;
CONDSTORE and QRESYNC, RFC 7162 3.1.2, 3.2.5).

The view is built from ``uid_list`` after the session's event subscription (made at login)
has been drained, so every change after the snapshot reaches the view and older ones are
not replayed. HIGHESTMODSEQ is the mailbox's, read before the snapshot: never above what the
client is shown, so a later resync from it misses nothing.

QRESYNC: with a matching UIDVALIDITY the client gets ``VANISHED (EARLIER)`` for the uids
expunged after its modseq (tombstones read after the snapshot, so an expunge in between is
in one or the other) and ``FETCH (UID FLAGS MODSEQ)`` for the messages changed after it,
both limited to its known uids. The seq-match data is not needed: tombstones are exact,
and where they were compacted the answer is every missing known uid (RFC 7162 3.2.5.1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from posthouse.imap import commands as c
from posthouse.imap import objectid
from posthouse.imap.handlers.context import CommandHandler, HandlerContext, Selected, ok
from posthouse.imap.handlers.listing import mailbox_list_line
from posthouse.imap.replies import ImapError, ResponseCode
from posthouse.imap.responses import (
    Atom,
    Code,
    Response,
    Status,
    UntaggedStatus,
    Value,
    exists,
    recent,
    vanished,
)
from posthouse.imap.sequence import NumberRanges
from posthouse.imap.view import MailboxView
from posthouse.store.errors import StorageFull, StoreError
from posthouse.store.models import Mailbox, UidFlags


def _select_responses(
    ctx: HandlerContext, box: Mailbox, view: MailboxView, messages: Sequence[UidFlags],
    *, read_only: bool,
) -> list[Response]:
    uidnext = max(box.uidnext, (messages[-1].uid + 1) if messages else 1)
    out: list[Response] = [view.flags_response(), exists(view.exists)]
    if not ctx.rev2:
        out.append(recent(view.recent_count))
        # RFC 3501 6.3.1; gone in IMAP4rev2; a message number, so never under UIDONLY
        if view.first_unseen is not None and not ctx.uidonly:
            out.append(UntaggedStatus(Status.OK, "First unseen",
                                      ResponseCode.UNSEEN.code(view.first_unseen)))
    out += [
        UntaggedStatus(Status.OK, "UIDs valid", ResponseCode.UIDVALIDITY.code(box.uidvalidity)),
        UntaggedStatus(Status.OK, "Predicted next UID", ResponseCode.UIDNEXT.code(uidnext)),
        view.permanent_flags_response(),
        # RFC 7162 3.1.2.1: every mailbox has mod-sequences, so NOMODSEQ is never sent
        UntaggedStatus(Status.OK, "Highest",
                       ResponseCode.HIGHESTMODSEQ.code(box.highestmodseq)),
        UntaggedStatus(Status.OK, "Mailbox id",  # RFC 8474 4.2
                       ResponseCode.MAILBOXID.code([Atom(objectid.mailbox_id(box))])),
    ]
    return out


async def _resync(
    ctx: HandlerContext, box: Mailbox, view: MailboxView, messages: Sequence[UidFlags],
    params: c.QresyncParams,
) -> AsyncIterator[Response]:
    """VANISHED (EARLIER) then the changed messages' FETCH (RFC 7162 3.2.5.1)."""
    known = params.known_uids
    expunged = await ctx.store.expunged_since(box.id, params.modseq)
    gone = view.vanished_earlier(expunged.uids, complete=expunged.complete, within=known,
                                 ceiling=box.uidnext - 1)
    if gone:
        yield vanished(gone, earlier=True)
    ranges = NumberRanges(known.bounds(0)) if known is not None else None
    changed = [m for m in messages
               if m.modseq > params.modseq and (ranges is None or m.uid in ranges)]
    for row in changed:
        uid: list[Value] = [] if ctx.uidonly else [Atom("UID"), row.uid]  # RFC 9586 3.3
        response = view.fetch_response(row.uid, [*uid, Atom("FLAGS"),
                                                 view.client_flags(row.uid, row.flags),
                                                 Atom("MODSEQ"), [row.modseq]])
        if response is not None:
            yield response
    view.record_flags(changed)


async def _open(
    ctx: HandlerContext, tag: str, cmd: c.SelectCommand | c.ExamineCommand, *, read_only: bool
) -> AsyncIterator[Response]:
    if cmd.qresync is not None and not ctx.qresync:  # RFC 7162 3.2.5: ENABLE QRESYNC first
        raise ImapError("QRESYNC is not enabled", status=Status.BAD)
    if ctx.selected is not None:
        ctx.select(None)  # a failed SELECT leaves nothing selected (RFC 9051 6.3.2)
        if ctx.rev2 or ctx.qresync:  # RFC 9051 7.1, RFC 7162 3.2.11: where the old ends
            yield UntaggedStatus(Status.OK, "Previous mailbox closed",
                                 ResponseCode.CLOSED.code())
    if cmd.condstore:
        ctx.enable_condstore()  # RFC 7162 3.1.8
    box = await ctx.mailbox(cmd.mailbox)
    await ctx.close_views()
    if ctx.events is not None:
        ctx.events.drain()  # older than the snapshot below
    # The view is registered before the snapshot: what is expunged after it stays
    # readable to this session until it is told (RFC 2180 4.1).
    view_id = await ctx.open_view(box.id)
    messages = await ctx.store.uid_list(box.id)
    mark = None
    if not ctx.rev2:
        # SELECT takes \Recent for this session; EXAMINE only shows it (RFC 3501 6.3.2).
        mark = box.recent_mark if read_only else await _claim_recent(ctx, box)
    view = MailboxView(messages, mailbox_id=box.id, origin=ctx.origin, rev2=ctx.rev2,
                       recent_above=mark, condstore=ctx.condstore, qresync=ctx.qresync,
                       uidonly=ctx.uidonly, read_only=read_only)
    for response in _select_responses(ctx, box, view, messages, read_only=read_only):
        yield response
    if ctx.rev2:  # RFC 9051 6.3.2: a LIST response with the mailbox name
        yield await mailbox_list_line(ctx, box.name)
    if cmd.qresync is not None and cmd.qresync.uidvalidity == box.uidvalidity:
        async for response in _resync(ctx, box, view, messages, cmd.qresync):
            yield response
    ctx.select(Selected(box, view, read_only, view_id))
    code = ResponseCode.READ_ONLY if read_only else ResponseCode.READ_WRITE
    yield ok(tag, f"{cmd.NAME} completed", code.code())


async def _claim_recent(ctx: HandlerContext, box: Mailbox) -> int:
    """Take \\Recent for this session; on a full disk show it as EXAMINE would instead (the
    claim is a write, and a full disk must not stop anyone reading their mail)."""
    try:
        return await ctx.store.claim_recent(box.id)
    except StorageFull as exc:
        ctx.log.info("claim_recent skipped: %s", exc)
        return box.recent_mark


async def handle_select(
    ctx: HandlerContext, tag: str, cmd: c.SelectCommand
) -> AsyncIterator[Response]:
    """Open a mailbox read-write."""
    async for response in _open(ctx, tag, cmd, read_only=False):
        yield response


async def handle_examine(
    ctx: HandlerContext, tag: str, cmd: c.ExamineCommand
) -> AsyncIterator[Response]:
    """Open a mailbox read-only; \\Recent is left alone (RFC 3501 6.3.2)."""
    async for response in _open(ctx, tag, cmd, read_only=True):
        yield response


async def handle_close(
    ctx: HandlerContext, tag: str, cmd: c.CloseCommand
) -> AsyncIterator[Response]:
    """Expunge \\Deleted silently (not after EXAMINE), then deselect (RFC 9051 6.4.1)."""
    selected = ctx.require_selected()
    ctx.select(None)
    removed: list[int] = []
    if not selected.read_only:
        try:
            removed = await ctx.store.expunge(selected.mailbox.id, origin=ctx.origin)
        except StoreError as exc:  # e.g. deleted meanwhile: CLOSE still leaves it
            ctx.log.info("CLOSE could not expunge: %r", exc)
    yield ok(tag, "CLOSE completed", _closed_modseq(ctx, selected, removed))


def _closed_modseq(ctx: HandlerContext, selected: Selected, removed: list[int]) -> Code | None:
    """``[HIGHESTMODSEQ n]`` for CLOSE under QRESYNC (RFC 7162 3.2.8), only when the client
    has been told every change up to n: nothing but CLOSE's own expunge was pending."""
    if not ctx.qresync or ctx.events is None:
        return None
    view = selected.view
    for event in ctx.events.drain():  # ours was published before expunge returned
        view.apply(event)
    if not view.only_expunges(removed):
        return None
    return ResponseCode.HIGHESTMODSEQ.code(view.highestmodseq)


async def handle_unselect(
    ctx: HandlerContext, tag: str, cmd: c.UnselectCommand
) -> AsyncIterator[Response]:
    """Deselect without expunging (RFC 3691)."""
    ctx.require_selected()
    ctx.select(None)
    yield ok(tag, "UNSELECT completed")


HANDLERS: dict[type[c.ImapCommand], CommandHandler] = {
    c.SelectCommand: handle_select,
    c.ExamineCommand: handle_examine,
    c.CloseCommand: handle_close,
    c.UnselectCommand: handle_unselect,
}
