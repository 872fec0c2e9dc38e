"""IDLE (RFC 2177, RFC 9051 6.3.13): updates are sent as soon as the store publishes them.

The handler sends ``+ idling`` and the updates waiting, then hands the command to the
session (``ctx.port.idle``): it waits for DONE without a task of its own (issue 15), sends
the updates of each store event at once and the tagged response at DONE (BAD for another
line); IDLE's time limit and server shutdown end the session with BYE. IDLE is a command
in progress, so EXPUNGE may be sent (RFC 9051 7.5.1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from posthouse.imap import commands as c
from posthouse.imap.handlers.context import CommandHandler, HandlerContext
from posthouse.imap.handlers.notify import session_updates
from posthouse.imap.responses import Continuation, Response


async def handle_idle(ctx: HandlerContext, tag: str, cmd: c.IdleCommand) -> AsyncIterator[Response]:
    """``+ idling`` and the waiting updates; the session goes on until ``DONE``."""
    yield Continuation("idling")
    for update in await session_updates(ctx, allow_expunge=True):
        yield update
    ctx.port.idle(tag)


HANDLERS: dict[type[c.ImapCommand], CommandHandler] = {c.IdleCommand: handle_idle}
