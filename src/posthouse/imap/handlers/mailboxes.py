"""CREATE (with CREATE-SPECIAL-USE), DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE
(RFC 9051 6.3.4-6.3.8, RFC 6154 3).

Names are validated by the store (InvalidMailboxName -> ``NO [CANNOT]``); the store also
implements the INBOX rules (RENAME INBOX moves its messages, DELETE INBOX fails).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from posthouse.imap import commands as c
from posthouse.imap import objectid
from posthouse.imap.handlers.context import CommandHandler, HandlerContext, ok
from posthouse.imap.replies import ImapError, ResponseCode
from posthouse.imap.responses import Atom, Response
from posthouse.store.models import HIERARCHY_DELIMITER

# Special uses this server can honour: real mailboxes, not virtual views (\All, \Flagged).
CREATABLE_USES = frozenset({"\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash"})


def _special_use(uses: tuple[str, ...]) -> str | None:
    if not uses:
        return None
    if len(uses) > 1 or uses[0] not in CREATABLE_USES:
        raise ImapError("Unsupported special-use attribute", code=ResponseCode.USEATTR.code())
    return uses[0]


async def handle_create(
    ctx: HandlerContext, tag: str, cmd: c.CreateCommand
) -> AsyncIterator[Response]:
    """A trailing delimiter only declares intent to create names below (RFC 9051 6.3.4)."""
    name = cmd.mailbox
    if name.endswith(HIERARCHY_DELIMITER) and name.strip(HIERARCHY_DELIMITER):
        name = name[: -len(HIERARCHY_DELIMITER)]
    use = _special_use(cmd.special_use)
    box = await ctx.store.create_mailbox(ctx.user_id, name, special_use=use, origin=ctx.origin)
    code = ResponseCode.MAILBOXID.code([Atom(objectid.mailbox_id(box))])  # RFC 8474 4.1
    yield ok(tag, "CREATE completed", code)


async def handle_delete(
    ctx: HandlerContext, tag: str, cmd: c.DeleteCommand
) -> AsyncIterator[Response]:
    """Remove a mailbox and its messages; names below it stay (RFC 9051 6.3.5)."""
    await ctx.store.delete_mailbox(ctx.user_id, cmd.mailbox, origin=ctx.origin)
    yield ok(tag, "DELETE completed")


async def handle_rename(
    ctx: HandlerContext, tag: str, cmd: c.RenameCommand
) -> AsyncIterator[Response]:
    """Rename with everything below; INBOX's messages move instead (RFC 9051 6.3.6)."""
    await ctx.store.rename_mailbox(ctx.user_id, cmd.old, cmd.new, origin=ctx.origin)
    yield ok(tag, "RENAME completed")


async def handle_subscribe(
    ctx: HandlerContext, tag: str, cmd: c.SubscribeCommand
) -> AsyncIterator[Response]:
    """Any valid name may be subscribed, existing or not (RFC 9051 6.3.7)."""
    await ctx.store.set_subscribed(ctx.user_id, cmd.mailbox, True, origin=ctx.origin)
    yield ok(tag, "SUBSCRIBE completed")


async def handle_unsubscribe(
    ctx: HandlerContext, tag: str, cmd: c.UnsubscribeCommand
) -> AsyncIterator[Response]:
    """Forget a subscription (RFC 9051 6.3.8)."""
    await ctx.store.set_subscribed(ctx.user_id, cmd.mailbox, False, origin=ctx.origin)
    yield ok(tag, "UNSUBSCRIBE completed")


HANDLERS: dict[type[c.ImapCommand], CommandHandler] = {
    c.CreateCommand: handle_create,
    c.DeleteCommand: handle_delete,
    c.RenameCommand: handle_rename,
    c.SubscribeCommand: handle_subscribe,
    c.UnsubscribeCommand: handle_unsubscribe,
}
