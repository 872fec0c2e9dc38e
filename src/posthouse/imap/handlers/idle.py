"""IDLE (RFC 2177, RFC 9051 6.3.13): updates are sent as soon as the store publishes them.

The session's ``idle_wait`` races the client's next line against store events (and the IDLE
time limit and server shutdown, which end the session with BYE). IDLE is a command in
progress, so EXPUNGE may be sent (RFC 9051 7.5.1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from posthouse.imap import commands as c
from posthouse.imap.handlers.context import CommandHandler, HandlerContext, ok
from posthouse.imap.handlers.notify import session_updates
from posthouse.imap.replies import ImapError
from posthouse.imap.responses import Continuation, Response, Status


async def handle_idle(ctx: HandlerContext, tag: str, cmd: c.IdleCommand) -> AsyncIterator[Response]:
    """``+ idling``, then updates until ``DONE``."""
    yield Continuation("idling")
    for update in await session_updates(ctx, allow_expunge=True):
        yield update
    while True:
        done = await ctx.port.idle_wait()
        if done is None:
            for update in await session_updates(ctx, allow_expunge=True):
                yield update
            continue
        if not done.ok:
            raise ImapError("Expected DONE", status=Status.BAD)
        yield ok(tag, "IDLE terminated")
        return


HANDLERS: dict[type[c.ImapCommand], CommandHandler] = {c.IdleCommand: handle_idle}
