"""COPY, MOVE and their UID forms (RFC 9051 6.4.7, 6.4.8; UIDPLUS RFC 4315; MOVE RFC 6851).

COPY answers ``OK [COPYUID uidvalidity source-uids destination-uids]`` (RFC 4315 3): the
destination's uidvalidity, then the copied messages' uids in the source and the new uids in
the destination, in the same order (the store files them in source-uid order, so both sets
ascend). MOVE sends that code in an untagged OK first, then the EXPUNGE responses for the
moved messages, then the tagged OK (RFC 6851 3.3, 4.3). A missing destination is
``NO [TRYCREATE]`` (RFC 9051 6.4.7); going over quota is ``NO [OVERQUOTA]`` (RFC 9208 5.1,
via replies.error_response). Into the selected mailbox itself, the new messages are announced
with EXISTS before the tagged reply. Messages expunged by another session meanwhile are not
copied; an empty set copies nothing and answers OK without a code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from posthouse.imap import commands as c
from posthouse.imap.handlers.context import CommandHandler, HandlerContext, ok
from posthouse.imap.replies import ImapError, ResponseCode
from posthouse.imap.responses import Atom, Code, Response, Status, UntaggedStatus
from posthouse.imap.sequence import compress
from posthouse.store.models import Mailbox


async def target_mailbox(ctx: HandlerContext, name: str) -> Mailbox:
    """The destination of APPEND/COPY/MOVE, or ``NO [TRYCREATE]`` if it does not exist."""
    found = await ctx.store.get_mailbox(ctx.user_id, name)
    if found is None:
        raise ImapError("Mailbox does not exist", code=ResponseCode.TRYCREATE.code())
    return found


def copyuid(uidvalidity: int, pairs: list[tuple[int, int]]) -> Code:
    """``COPYUID uidvalidity source-set destination-set`` (RFC 4315 3)."""
    source = compress(sorted(src for src, _ in pairs))
    dest = compress(sorted(dst for _, dst in pairs))
    return ResponseCode.COPYUID.code(uidvalidity, Atom(source), Atom(dest))


async def handle_copy(ctx: HandlerContext, tag: str, cmd: c.CopyCommand) -> AsyncIterator[Response]:
    """COPY / UID COPY."""
    selected = ctx.require_selected()
    name = "UID COPY" if cmd.uid else "COPY"
    uids = selected.view.resolve(cmd.sequence, uid=cmd.uid)
    dest = await target_mailbox(ctx, cmd.mailbox)
    if not uids:
        yield ok(tag, f"{name} completed (no messages)")
        return
    pairs = await ctx.store.copy(selected.mailbox.id, uids, dest.id, origin=ctx.origin)
    if dest.id == selected.mailbox.id:
        selected.view.note_added(new for _, new in pairs)
    code = copyuid(dest.uidvalidity, pairs) if pairs else None
    yield ok(tag, f"{name} completed", code)


async def handle_move(ctx: HandlerContext, tag: str, cmd: c.MoveCommand) -> AsyncIterator[Response]:
    """MOVE / UID MOVE: needs a writable mailbox, as it expunges (RFC 6851 3.3)."""
    selected = ctx.require_writable()
    name = "UID MOVE" if cmd.uid else "MOVE"
    uids = selected.view.resolve(cmd.sequence, uid=cmd.uid)
    dest = await target_mailbox(ctx, cmd.mailbox)
    if not uids:
        yield ok(tag, f"{name} completed (no messages)")
        return
    pairs = await ctx.store.move(selected.mailbox.id, uids, dest.id, origin=ctx.origin)
    if pairs:
        yield UntaggedStatus(Status.OK, "Moved", copyuid(dest.uidvalidity, pairs))
    if dest.id == selected.mailbox.id:
        selected.view.note_added(new for _, new in pairs)
    selected.view.note_expunged(src for src, _ in pairs)  # the session sends the EXPUNGEs
    yield ok(tag, f"{name} completed")


HANDLERS: dict[type[c.ImapCommand], CommandHandler] = {
    c.CopyCommand: handle_copy,
    c.MoveCommand: handle_move,
}
