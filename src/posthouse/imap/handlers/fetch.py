"""FETCH and UID FETCH (RFC 9051 6.4.5, 6.4.9; RFC 3501 6.4.5; RFC 3516 BINARY).

Streaming: the uids are resolved on the session's view, then metadata is loaded in batches
(``META_BATCH`` uids, fewer when the cached parse is needed) and each message's response is
yielded as soon as it is built, so ``FETCH 1:* (UID FLAGS)`` on a huge mailbox never loads a
body or a summary and never holds more than one batch. Message bytes are read only when a
body section is asked for: one ``read_blobs`` call per batch (split so that one call holds at
most ``BLOB_GROUP_BYTES`` of messages, or one message), not one store round trip each; a
message list's header fields already kept (imap/header_cache.py) need no read at all.

\\Seen: a non-PEEK body item sets \\Seen (through ``store_flags``, once per batch) in a
read-write mailbox, and the new FLAGS are part of that message's FETCH response even if
FLAGS was not asked for (RFC 9051 6.4.5, RFC 3501 6.4.5). After EXAMINE nothing is set.

Messages expunged by another session whose EXPUNGE this session has not sent yet are still
answered with their data (RFC 2180 4.1.1, RFC 9051 7.5.1): the store holds them for this
session's view (``fetch_expunged``; their blobs are not freed before the view releases them).
Only a message the store no longer holds for the view (none should be) is left out, and a
FETCH by sequence number then ends with ``NO [EXPUNGEISSUED]`` (RFC 5530 3).

Under UIDONLY each response is ``* uid UIDFETCH (...)`` without the implied UID item (RFC
9586 3.3; ``MailboxView.fetch_response``); a UID asked for by name is still shown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence

from posthouse.imap import commands as c
from posthouse.imap.fetchitems import Attr, FetchItem
from posthouse.imap.handlers.context import CommandHandler, HandlerContext, Selected, ok
from posthouse.imap.handlers.fetch_lines import (
    bulk_responses,
    is_bulk,
    kept_values,
    listing_responses,
    uses_listing,
)
from posthouse.imap.handlers.msg_fetchitems import (
    Body,
    FetchPlan,
    MessageData,
    message_bytes,
    plan_fetch,
    render_items,
)
from posthouse.imap.header_cache import HEADER_FIELDS
from posthouse.imap.replies import ImapError, ResponseCode
from posthouse.imap.responses import Response, Status, vanished
from posthouse.store.models import SEEN, FlagOp, StoredMessage, UidFlags

META_BATCH = 500  # uids per metadata query when only metadata is needed
SUMMARY_BATCH = 50  # uids per query when the cached parse is loaded (it can be large)
BLOB_GROUP_BYTES = 8 << 20  # message bytes read per store call (at least one message)


def batch_size(plan: FetchPlan) -> int:
    """How many uids one metadata query covers for this plan (the bulk writer's header
    sections need the bytes too, but its message reads are split by size anyway)."""
    return SUMMARY_BATCH if plan.summary or (plan.blob and not is_bulk(plan)) else META_BATCH


async def _mark_seen(
    ctx: HandlerContext, selected: Selected, metas: list[StoredMessage]
) -> list[StoredMessage]:
    """Set \\Seen on the messages that lack it; the list with their new flags and modseq."""
    unseen = [m.uid for m in metas if SEEN not in m.flags]
    if not unseen:
        return metas
    changes, _ = await ctx.store.store_flags(
        selected.mailbox.id, unseen, FlagOp.ADD, frozenset({SEEN}), origin=ctx.origin
    )
    new = {change.uid: change for change in changes}
    return [
        dataclasses.replace(m, flags=new[m.uid].flags, modseq=new[m.uid].modseq)
        if m.uid in new else m
        for m in metas
    ]


def blob_groups(metas: Sequence[StoredMessage]) -> Iterator[Sequence[StoredMessage]]:
    """Consecutive runs of ``metas`` whose sizes add up to at most BLOB_GROUP_BYTES (a run
    holds at least one message): the bytes of one run are read in one store call."""
    start, total = 0, 0
    for end, meta in enumerate(metas):
        if end > start and total + meta.size > BLOB_GROUP_BYTES:
            yield metas[start:end]
            start, total = end, 0
        total += meta.size
    if start < len(metas):
        yield metas[start:]


def _body(blobs: Mapping[str, bytes], meta: StoredMessage) -> Body:
    """The message's bytes from a group read (NotFound, as ``read_blob``, if gone)."""
    return Body(message_bytes(blobs, meta))


def _message(
    selected: Selected, plan: FetchPlan, meta: StoredMessage, blobs: Mapping[str, bytes],
    *, newly_seen: bool,
) -> list[Response]:
    """The FETCH response of one message, after FLAGS if it shows a keyword the client was
    not told of (RFC 9051 7.3.5); nothing if the view no longer knows it."""
    view = selected.view
    if view.msn_of(meta.uid) is None:  # pragma: no cover - resolve only gives known uids
        return []
    body = _body(blobs, meta) if plan.blob else None
    msg = MessageData(meta, view.client_flags(meta.uid, meta.flags), body)
    add_flags = newly_seen and not plan.wants_flags
    out: list[Response] = []
    if plan.wants_flags or add_flags:  # reported: no later unsolicited FETCH for it
        out += view.announce_keywords(meta.flags)
        view.record_flags([UidFlags(meta.uid, meta.modseq, meta.flags)])
    answer = view.fetch_response(meta.uid, render_items(msg, plan.items, add_flags=add_flags))
    return [*out, answer] if answer is not None else out


async def _batch(
    ctx: HandlerContext, selected: Selected, plan: FetchPlan, uids: Sequence[int],
    changedsince: int | None,
) -> tuple[list[StoredMessage], set[int], int]:
    """Load one batch: (metadata, uids newly marked \\Seen, count of messages missing)."""
    metas = await ctx.store.fetch_meta(selected.mailbox.id, uids, with_summary=plan.summary)
    if len(metas) < len(uids) and selected.view_id is not None:  # expunged meanwhile
        found = {m.uid for m in metas}
        held = await ctx.store.fetch_expunged(
            selected.view_id, [u for u in uids if u not in found], with_summary=plan.summary)
        metas = sorted([*metas, *held], key=lambda m: m.uid)
    missing = len(uids) - len(metas)
    if changedsince is not None:
        metas = [m for m in metas if m.modseq > changedsince]
    seen_now: set[int] = set()
    if plan.sets_seen:
        before = {m.uid: m.modseq for m in metas}
        metas = await _mark_seen(ctx, selected, metas)
        seen_now = {m.uid for m in metas if m.modseq != before[m.uid]}
    return metas, seen_now, missing


async def _vanished(
    ctx: HandlerContext, selected: Selected, cmd: c.FetchCommand
) -> AsyncIterator[Response]:
    """``VANISHED (EARLIER)`` for the VANISHED modifier (RFC 7162 3.2.6)."""
    if not (ctx.qresync and cmd.uid and cmd.changedsince is not None):
        raise ImapError("VANISHED needs QRESYNC, UID FETCH and CHANGEDSINCE",
                        status=Status.BAD)
    view = selected.view
    expunged = await ctx.store.expunged_since(selected.mailbox.id, cmd.changedsince)
    gone = view.vanished_earlier(expunged.uids, complete=expunged.complete,
                                 within=cmd.sequence, ceiling=view.last_uid)
    if gone:
        yield vanished(gone, earlier=True)


async def handle_fetch(
    ctx: HandlerContext, tag: str, cmd: c.FetchCommand
) -> AsyncIterator[Response]:
    """FETCH / UID FETCH."""
    selected = ctx.require_selected()
    uids = selected.view.resolve(cmd.sequence, uid=cmd.uid)
    if cmd.vanished:
        async for line in _vanished(ctx, selected, cmd):
            yield line
    if cmd.changedsince is not None or Attr.MODSEQ in cmd.items:
        ctx.enable_condstore()  # RFC 7162 3.1
    if cmd.changedsince is not None:  # one scan in the store, not every row loaded
        changed = await ctx.store.changed_since(selected.mailbox.id, cmd.changedsince)
        uids = [u for u in uids if u in changed]
    plan = plan_fetch(
        cmd.items,
        uid=cmd.uid and not ctx.uidonly,  # UIDFETCH carries the uid (RFC 9586 3.3)
        read_only=selected.read_only,
        modseq=cmd.changedsince is not None or ctx.condstore,
    )
    step = batch_size(plan)
    bulk = is_bulk(plan)
    if uses_listing(plan, len(uids), selected.view.exists):
        listing = await ctx.store.uid_list(selected.mailbox.id)
        listed, uids = listing_responses(selected.view, plan, uids, listing, cmd.changedsince)
        for response in listed:
            yield response
    missing = 0
    for start in range(0, len(uids), step):  # what the listing did not answer, if any
        metas, seen_now, gone = await _batch(
            ctx, selected, plan, uids[start : start + step], cmd.changedsince
        )
        missing += gone
        for group in blob_groups(metas) if plan.blob else (metas,):
            known, wanted = (kept_values(plan, group, HEADER_FIELDS) if bulk
                             else ({}, [m.blob_id for m in group] if plan.blob else []))
            blobs = await ctx.store.read_blobs(wanted) if wanted else {}
            if bulk:
                for response in bulk_responses(selected.view, plan, group, blobs,
                                               HEADER_FIELDS, known):
                    yield response
                continue
            for meta in group:
                for response in _message(selected, plan, meta, blobs,
                                          newly_seen=meta.uid in seen_now):
                    yield response
    if missing and not cmd.uid:
        raise ImapError(
            "Some messages were expunged by another session", code=ResponseCode.EXPUNGEISSUED.code()
        )
    yield ok(tag, f"{'UID ' if cmd.uid else ''}FETCH completed")


async def fetch_announced(
    ctx: HandlerContext, selected: Selected, uids: Sequence[int], items: Sequence[FetchItem],
) -> list[Response]:
    """FETCH data of messages just announced with EXISTS, for NOTIFY's MessageNew fetch-att
    list (RFC 5465 5.2): as a UID FETCH in a read-only mailbox, so nothing sets \\Seen
    (an unsolicited response must not change the mailbox)."""
    # as UID FETCH: the uid goes with it (in UIDFETCH itself under UIDONLY, RFC 9586 3.3)
    plan = plan_fetch(items, uid=not ctx.uidonly, read_only=True, modseq=ctx.condstore)
    known = [u for u in uids if selected.view.msn_of(u) is not None]
    out: list[Response] = []
    step = batch_size(plan)
    for start in range(0, len(known), step):
        metas, _seen, _gone = await _batch(ctx, selected, plan, known[start : start + step],
                                           None)
        for group in blob_groups(metas) if plan.blob else (metas,):
            blobs = await ctx.store.read_blobs([m.blob_id for m in group]) if plan.blob else {}
            for meta in group:
                out += _message(selected, plan, meta, blobs, newly_seen=False)
    return out


HANDLERS: dict[type[c.ImapCommand], CommandHandler] = {c.FetchCommand: handle_fetch}
