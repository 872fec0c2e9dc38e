"""EXPUNGE and UID EXPUNGE (RFC 9051 6.4.3, 6.4.9; RFC 4315 2.1).

The store removes the messages flagged \\Deleted (all of them, or only those of the UID set)
in one transaction; the handler tells the view, and the session sends ``* n EXPUNGE`` for
each before the tagged OK, numbered as the client knows them at that moment (each EXPUNGE
shifts the numbers after it: view.flush does the arithmetic). After EXAMINE:
``NO [READ-ONLY]`` (nothing may be removed from a read-only mailbox, RFC 9051 6.3.3).

With CONDSTORE on, the updates (VANISHED under QRESYNC) go out first and the tagged OK
carries ``[HIGHESTMODSEQ n]``, n covering everything sent so far (RFC 7162 3.2.7).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from posthouse.imap import commands as c
from posthouse.imap.handlers.context import CommandHandler, HandlerContext, ok
from posthouse.imap.handlers.notify import session_updates
from posthouse.imap.replies import ResponseCode
from posthouse.imap.responses import Response


async def handle_expunge(
    ctx: HandlerContext, tag: str, cmd: c.ExpungeCommand | c.UidExpungeCommand
) -> AsyncIterator[Response]:
    """EXPUNGE / UID EXPUNGE."""
    selected = ctx.require_writable()
    uids: list[int] | None = None
    if isinstance(cmd, c.UidExpungeCommand):
        uids = selected.view.resolve(cmd.sequence, uid=True)
    if uids is None or uids:
        removed = await ctx.store.expunge(selected.mailbox.id, uids, origin=ctx.origin)
        selected.view.note_expunged(removed)
    code = None
    if ctx.condstore:  # the store published our event before returning: all is in the view
        for update in await session_updates(ctx, allow_expunge=True):
            yield update
        code = ResponseCode.HIGHESTMODSEQ.code(selected.view.highestmodseq)
    yield ok(tag, f"{cmd.NAME} completed", code)


HANDLERS: dict[type[c.ImapCommand], CommandHandler] = {
    c.ExpungeCommand: handle_expunge,
    c.UidExpungeCommand: handle_expunge,
}
