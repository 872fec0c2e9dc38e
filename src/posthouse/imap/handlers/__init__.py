"""IMAP command handlers and the one dispatch table ``HANDLERS``: command type -> handler.

Contract (see context.py for the details):

    async def handler(ctx: HandlerContext, tag: str, cmd: SomeCommand) -> AsyncIterator[Response]

An async generator that yields untagged responses, then one ``Tagged`` for ``tag``; errors
are raised (ImapError, store domain errors) and turned into tagged NO/BAD by the session,
which also sends pending mailbox updates before the tagged response and moves the state.

Each handler module exports its own small table
``HANDLERS: dict[type[ImapCommand], CommandHandler]``; this module merges them, importing
every module explicitly. A command type without a handler is answered ``NO`` by the session
(and the unit test on the table fails).
"""

from __future__ import annotations

from posthouse.imap.commands import ImapCommand
from posthouse.imap.handlers import (
    append,
    auth,
    compress,
    copy,
    expunge,
    fetch,
    idle,
    listing,
    mailboxes,
    metadata,
    misc,
    notify,
    search,
    select,
    status,
    store,
)
from posthouse.imap.handlers.context import CommandHandler, HandlerContext, Selected, ok

_TABLES: tuple[dict[type[ImapCommand], CommandHandler], ...] = (
    # session, authentication and mailbox commands
    auth.HANDLERS,
    compress.HANDLERS,
    misc.HANDLERS,
    mailboxes.HANDLERS,
    listing.HANDLERS,
    status.HANDLERS,
    metadata.HANDLERS,
    select.HANDLERS,
    idle.HANDLERS,
    notify.HANDLERS,
    # message commands
    fetch.HANDLERS,
    search.HANDLERS,
    store.HANDLERS,
    copy.HANDLERS,
    expunge.HANDLERS,
    append.HANDLERS,
)


def _merge(
    tables: tuple[dict[type[ImapCommand], CommandHandler], ...],
) -> dict[type[ImapCommand], CommandHandler]:
    merged: dict[type[ImapCommand], CommandHandler] = {}
    for table in tables:
        for cls, handler in table.items():
            if cls in merged:
                raise RuntimeError(f"two handlers for {cls.__name__}")
            merged[cls] = handler
    return merged


HANDLERS: dict[type[ImapCommand], CommandHandler] = _merge(_TABLES)

__all__ = ["HANDLERS", "CommandHandler", "HandlerContext", "Selected", "ok"]
