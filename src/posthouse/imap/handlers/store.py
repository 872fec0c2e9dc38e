"""STORE and UID STORE (RFC 9051 6.4.6, RFC 3501 6.4.6; UNCHANGEDSINCE, RFC 7162 3.1.3).

The change is one store transaction. Unless .SILENT, every message of the set that still
exists gets ``* n FETCH (FLAGS (...))`` with its flags after the change, changed or not
(with UID for UID STORE, RFC 9051 6.4.9; ``* uid UIDFETCH (FLAGS (...))`` under UIDONLY,
RFC 9586 3.3); the FETCH responses are built in batches. Other
sessions learn of the change from the store's FlagsChanged event. \\Recent cannot be set or
cleared by a client (the parser refuses it; the store ignores it); an unknown system flag
is ``BAD``. Messages expunged by
another session meanwhile are skipped. After EXAMINE: ``NO [READ-ONLY]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from posthouse.imap import commands as c
from posthouse.imap.handlers.context import CommandHandler, HandlerContext, Selected, ok
from posthouse.imap.replies import ImapError, ResponseCode
from posthouse.imap.responses import Atom, Code, Response, Status, Value
from posthouse.imap.sequence import compress
from posthouse.store.models import UidFlags, is_recent, is_system_flag

BATCH = 500


def settable_flags(flags: frozenset[str]) -> frozenset[str]:
    """The flags a client may store: keywords and the known system flags; \\Recent is
    dropped (session state), any other ``\\name`` is refused with BAD, as a flag-extension
    this server does not know cannot be kept (RFC 9051 2.3.2)."""
    unknown = sorted(f for f in flags if f.startswith("\\") and not is_system_flag(f))
    if unknown:
        raise ImapError(f"Unknown system flag {unknown[0]}", status=Status.BAD)
    return frozenset(f for f in flags if not is_recent(f))


async def _current(
    ctx: HandlerContext, mailbox_id: int, uids: Sequence[int], changed: dict[int, UidFlags]
) -> AsyncIterator[UidFlags]:
    """The flags of ``uids`` after the change, from ``changed`` or read back in batches."""
    for start in range(0, len(uids), BATCH):
        batch = uids[start:start + BATCH]
        rest = [uid for uid in batch if uid not in changed]
        metas = {m.uid: m for m in await ctx.store.fetch_meta(mailbox_id, rest)} if rest else {}
        for uid in batch:
            if uid in changed:
                yield changed[uid]
            elif uid in metas:
                yield UidFlags(uid, metas[uid].modseq, metas[uid].flags)


def _items(ctx: HandlerContext, selected: Selected, row: UidFlags, *, uid: bool) -> list[Value]:
    # the UID item is implied by UIDFETCH under UIDONLY (RFC 9586 3.3)
    items: list[Value] = [Atom("UID"), row.uid] if uid and not ctx.uidonly else []
    items += [Atom("FLAGS"), selected.view.client_flags(row.uid, row.flags)]
    if ctx.condstore:
        items += [Atom("MODSEQ"), [row.modseq]]
    return items


def _modified(selected: Selected, failed: list[int], *, uid: bool) -> Code | None:
    """``[MODIFIED set]`` for messages that failed UNCHANGEDSINCE (RFC 7162 3.1.3)."""
    if not failed:
        return None
    view = selected.view
    numbers = sorted(failed) if uid else sorted(n for u in failed if (n := view.msn_of(u)))
    return ResponseCode.MODIFIED.code(Atom(compress(numbers)))


async def handle_store(
    ctx: HandlerContext, tag: str, cmd: c.StoreCommand
) -> AsyncIterator[Response]:
    """STORE / UID STORE with FLAGS, +FLAGS, -FLAGS and .SILENT."""
    selected = ctx.require_writable()
    if cmd.unchangedsince is not None:
        ctx.enable_condstore()  # RFC 7162 3.1
    view = selected.view
    uids = view.resolve(cmd.sequence, uid=cmd.uid)
    flags = settable_flags(cmd.flags)
    changes, failed = await ctx.store.store_flags(
        selected.mailbox.id,
        uids,
        cmd.op,
        flags,
        unchanged_since=cmd.unchangedsince,
        origin=ctx.origin,
    )
    view.record_flags(changes)  # answered below, or not wanted (.SILENT)
    for change in changes:  # a new keyword: FLAGS first (RFC 9051 7.3.5), even if .SILENT
        for response in view.announce_keywords(change.flags):
            yield response
    if not cmd.silent:
        skip = set(failed)
        wanted = [u for u in uids if u not in skip]
        async for row in _current(ctx, selected.mailbox.id, wanted, {ch.uid: ch for ch in changes}):
            answer = view.fetch_response(row.uid, _items(ctx, selected, row, uid=cmd.uid))
            if answer is not None:
                for response in view.announce_keywords(row.flags):
                    yield response
                yield answer
                view.record_flags([row])
    name = "UID STORE" if cmd.uid else "STORE"
    yield ok(tag, f"{name} completed", _modified(selected, failed, uid=cmd.uid))


HANDLERS: dict[type[c.ImapCommand], CommandHandler] = {c.StoreCommand: handle_store}
