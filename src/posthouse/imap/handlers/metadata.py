"""GETMETADATA and SETMETADATA (RFC 5464): entries of the user's mailboxes and of the server.

Mailbox entries, /private/ and /shared/ alike, belong to the mailbox's owner: mailboxes are
never shared here, so "shared" has one reader (3.3). Server entries: /private/ ones are the
user's own; /shared/ ones are the same for every user and read-only over IMAP (3.3 lets a
server refuse them; 3.2.1.1 makes /shared/admin read-only always), because IMAP has no
administrator here: the operator sets them (``store.set_server_metadata``), and
/shared/admin is the postmaster of the default domain. No unsolicited METADATA responses
(4.4: only after ENABLE METADATA, which is not offered).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from posthouse.imap import commands as c
from posthouse.imap.handlers.context import CommandHandler, HandlerContext, ok
from posthouse.imap.parser.cursor import ASTRING_CHARS
from posthouse.imap.replies import ImapError, ResponseCode
from posthouse.imap.responses import Atom, Code, Literal8, Response, Untagged, Value

SERVER = 0  # the store's mailbox_id for server entries
ADMIN = "/shared/admin"


async def _target(ctx: HandlerContext, mailbox: str) -> int:
    """The mailbox id, or SERVER for "" (RFC 5464 4.1); NO [NONEXISTENT] if missing."""
    if not mailbox:
        return SERVER
    return (await ctx.mailbox(mailbox)).id


def _within(entry: str, name: str, depth: int | None) -> bool:
    """Whether ``entry`` is ``name`` or below it by at most ``depth`` levels (4.2.2)."""
    if entry == name:
        return True
    if not entry.startswith(name + "/"):
        return False
    return depth is None or entry.count("/") - name.count("/") <= depth


def _entry_name(name: str) -> Value:
    """An entry name as an atom when it is one, else a quoted string."""
    return Atom(name) if all(ord(ch) in ASTRING_CHARS for ch in name) else name


def _value(data: bytes) -> Value:
    """A value as a string, or a literal8 when it holds NUL (RFC 5464 5: literal8)."""
    return Literal8(data) if b"\x00" in data else data


async def metadata_response(
    ctx: HandlerContext, mailbox: str, mailbox_id: int, request: c.MetadataRequest,
) -> tuple[Untagged | None, int]:
    """``* METADATA mailbox (entry value ...)`` for GETMETADATA and LIST's METADATA return
    option (RFC 9590), and the size of the largest value MAXSIZE left out (0: none).

    A named entry that does not exist is NIL; entries below it (DEPTH) only when they
    exist (4.2.2)."""
    names, depth = request.entries, request.depth
    stored = await ctx.store.get_metadata(ctx.user_id, mailbox_id, names, depth=depth)
    found: dict[str, bytes | None] = dict(stored)
    admin = ctx.config.metadata_admin
    if mailbox_id == SERVER and admin and any(_within(ADMIN, n, depth) for n in names):
        found[ADMIN] = admin.encode()
    for name in names:
        found.setdefault(name, None)
    items: list[Value] = []
    longest = 0
    for name in sorted(found):
        data = found[name]
        if data is not None and request.maxsize is not None and len(data) > request.maxsize:
            longest = max(longest, len(data))
            continue
        items += [_entry_name(name), None if data is None else _value(data)]
    if not items:
        return None, longest
    return Untagged((Atom("METADATA"), ctx.mailbox_name(mailbox), items)), longest


def longentries(longest: int) -> Code | None:
    """``[METADATA LONGENTRIES n]`` when MAXSIZE left a value out (4.2.1)."""
    return ResponseCode.METADATA.code(Atom("LONGENTRIES"), longest) if longest else None


async def handle_getmetadata(
    ctx: HandlerContext, tag: str, cmd: c.GetMetadataCommand
) -> AsyncIterator[Response]:
    """``* METADATA mailbox (entry value ...)``; values over MAXSIZE are left out and the
    largest of them is told in ``[METADATA LONGENTRIES n]`` (4.2.1)."""
    mailbox_id = await _target(ctx, cmd.mailbox)
    request = c.MetadataRequest(cmd.entries, cmd.maxsize, cmd.depth)
    response, longest = await metadata_response(ctx, cmd.mailbox, mailbox_id, request)
    if response is not None:
        yield response
    yield ok(tag, "GETMETADATA completed", longentries(longest))


async def handle_setmetadata(
    ctx: HandlerContext, tag: str, cmd: c.SetMetadataCommand
) -> AsyncIterator[Response]:
    """Set or delete every entry, or none (4.3): NO [METADATA MAXSIZE n] for a value too
    big, NO [METADATA TOOMANY] past the per-user count, NO for server /shared/ entries."""
    limit = ctx.config.metadata_max_entry_bytes
    if any(value is not None and len(value) > limit for _, value in cmd.entries):
        raise ImapError("Metadata value too long",
                        code=ResponseCode.METADATA.code(Atom("MAXSIZE"), limit))
    mailbox_id = await _target(ctx, cmd.mailbox)
    await ctx.store.set_metadata(ctx.user_id, mailbox_id, cmd.entries,
                                 max_entries=ctx.config.metadata_max_entries,
                                 origin=ctx.origin)
    yield ok(tag, "SETMETADATA completed")


HANDLERS: dict[type[c.ImapCommand], CommandHandler] = {
    c.GetMetadataCommand: handle_getmetadata,
    c.SetMetadataCommand: handle_setmetadata,
}
