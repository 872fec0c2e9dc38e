"""APPEND (RFC 9051 6.3.12, RFC 3501 6.3.11) with MULTIAPPEND (RFC 3502), literal8
(RFC 3516 4.4), ``UTF8 (~{n})`` (RFC 6855 4) and APPENDUID (RFC 4315 3).

The bytes are stored exactly as sent; the store makes the cached parse
(posthouse.message.summary) once, after the commit, so the OK does not wait for it. The
internal date is the one given or now.
Answers: ``OK [APPENDUID uidvalidity uid-set]``; a missing mailbox ``NO [TRYCREATE]``; a
message over ``limits.max_message_size`` ``NO [TOOBIG]`` (RFC 9051 7.1; the session
normally refuses such a literal before it is sent); an empty message ``NO``; quota
``NO [OVERQUOTA]``; a full disk or one below the low-space threshold ``NO [UNAVAILABLE]``
(store errors, imap/replies.py). MULTIAPPEND is all or nothing (RFC 3502 3): if one
message fails, those already stored are removed again. Appending to the selected mailbox
announces EXISTS before the tagged OK (RFC 9051 6.3.12); \\Recent is left to the session,
which owns the mailbox's recent mark.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from posthouse.imap import commands as c
from posthouse.imap.handlers.context import CommandHandler, HandlerContext, ok
from posthouse.imap.handlers.copy import target_mailbox
from posthouse.imap.handlers.store import settable_flags
from posthouse.imap.replies import ImapError, ResponseCode
from posthouse.imap.responses import Atom, Response
from posthouse.imap.sequence import compress
from posthouse.store.models import Mailbox, NewMessage


def _check(ctx: HandlerContext, message: c.AppendMessage) -> None:
    limit = ctx.config.max_message_size
    if len(message.data) > limit:
        raise ImapError(f"Message larger than {limit} octets",
                        code=ResponseCode.TOOBIG.code())
    if not message.data:
        raise ImapError("Empty message")


async def _store_all(
    ctx: HandlerContext, box: Mailbox, messages: tuple[c.AppendMessage, ...]
) -> tuple[int, list[int]]:
    """Store every message; (uidvalidity, uids). All or nothing."""
    uids: list[int] = []
    uidvalidity = box.uidvalidity
    try:
        for message in messages:
            new = NewMessage(message.data, None, message.internaldate or ctx.clock.now())
            flags = settable_flags(message.flags)
            uidvalidity, uid = await ctx.store.append(box.id, new, flags, origin=ctx.origin)
            uids.append(uid)
    except BaseException:
        if uids:
            await asyncio.shield(ctx.store.delete_messages(box.id, uids, origin=ctx.origin))
        raise
    return uidvalidity, uids


async def handle_append(
    ctx: HandlerContext, tag: str, cmd: c.AppendCommand
) -> AsyncIterator[Response]:
    """APPEND / MULTIAPPEND."""
    for message in cmd.messages:
        _check(ctx, message)
        settable_flags(message.flags)
    box = await target_mailbox(ctx, cmd.mailbox)
    uidvalidity, uids = await _store_all(ctx, box, cmd.messages)
    selected = ctx.selected
    if selected is not None and selected.mailbox.id == box.id:
        selected.view.note_added(uids)
        for message in cmd.messages:  # new keywords: FLAGS now (RFC 9051 7.3.5)
            for response in selected.view.announce_keywords(message.flags):
                yield response
    code = ResponseCode.APPENDUID.code(uidvalidity, Atom(compress(sorted(uids))))
    yield ok(tag, "APPEND completed", code)


HANDLERS: dict[type[c.ImapCommand], CommandHandler] = {c.AppendCommand: handle_append}
