"""SEARCH and UID SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4, ESEARCH RFC 4731, SEARCHRES
RFC 5182).

Cost: sequence, UID, ``$``, ALL and \\Recent keys are answered by the session's view; flag
and MODSEQ keys read the uid list (no message rows); size and internal-date keys read
metadata in batches; SENT* keys the cached parse; header and text keys one indexed store
query each (``search_text``). Message bytes are never read.

Answer shape: IMAP4rev2 always answers ESEARCH (no RETURN means ``RETURN (ALL)``, RFC 9051
6.4.4); IMAP4rev1 answers ``* SEARCH`` unless RETURN was given (RFC 4731 3.1).
Messages expunged by another session but not yet announced do not match anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from posthouse.imap import commands as c
from posthouse.imap import objectid
from posthouse.imap.handlers.context import CommandHandler, HandlerContext, Selected, ok
from posthouse.imap.handlers.msg_search import (
    Facts,
    Need,
    TextQuery,
    esearch_response,
    matches,
    narrow,
    need,
    saved_uids,
    search_response,
    seq_keys,
    text_queries,
    walk,
)
from posthouse.imap.responses import Response
from posthouse.imap.search import HeaderKey, ModSeqKey, SearchKey, SeqKey
from posthouse.imap.view import MailboxView

META_BATCH = 500
SUMMARY_BATCH = 100
UID_LIST_ABOVE = 2000  # flag keys over more candidates read the mailbox's uid list


def _seq_sets(key: SearchKey, view: MailboxView) -> dict[SeqKey, set[int]]:
    """Each sequence-set key as the uids it names (out-of-range numbers match nothing)."""
    return {k: set(view.resolve(k.sequence, uid=k.uid, strict=False)) for k in seq_keys(key)}


async def _text_sets(
    ctx: HandlerContext, mailbox_id: int, key: SearchKey
) -> dict[TextQuery, set[int]]:
    """Each header/body/text key as the uids the store's index finds."""
    found: dict[TextQuery, set[int]] = {}
    for query in text_queries(key):
        field = query.field if isinstance(query, HeaderKey) else query.field.value
        found[query] = await ctx.store.search_text(mailbox_id, query.value, field=field)
    return found


async def _facts(
    ctx: HandlerContext, selected: Selected, uids: Sequence[int], level: Need
) -> AsyncIterator[Facts]:
    """Facts for the uids that still exist, loaded only as far as ``level`` needs."""
    view, box = selected.view, selected.mailbox.id
    if level is Need.FLAGS and len(uids) <= UID_LIST_ABOVE:
        level = Need.META  # a few rows cost less than the whole uid list
    if level is Need.NOTHING:
        for uid in uids:
            yield Facts(uid, recent=view.is_recent(uid))
        return
    if level is Need.FLAGS:
        rows = {row.uid: row for row in await ctx.store.uid_list(box)}
        for uid in uids:
            row = rows.get(uid)
            if row is not None:
                yield Facts(uid, view.is_recent(uid), _lower(row.flags), row.modseq)
        return
    summary = level is Need.SUMMARY
    step = SUMMARY_BATCH if summary else META_BATCH
    for start in range(0, len(uids), step):
        for meta in await ctx.store.fetch_meta(box, uids[start:start + step],
                                               with_summary=summary):
            sent = meta.summary.sent_date if meta.summary is not None else None
            thread = (objectid.thread_id(meta.summary, meta.blob_id)
                      if meta.summary is not None else "")
            yield Facts(meta.uid, view.is_recent(meta.uid), _lower(meta.flags), meta.modseq,
                        meta.size, meta.internaldate, sent, meta.savedate,
                        objectid.email_id(meta.blob_id), thread)


def _lower(flags: frozenset[str]) -> frozenset[str]:
    return frozenset(f.lower() for f in flags)


async def evaluate(
    ctx: HandlerContext, selected: Selected, key: SearchKey
) -> tuple[list[int], int]:
    """The uids (ascending) of the messages the client knows that match ``key``, and the
    highest modseq among them (0 if none)."""
    view = selected.view
    sets = _seq_sets(key, view)
    candidates = [u for u in narrow(key, view.uids, sets) if not view.is_expunged(u)]
    if not candidates:
        return [], 0
    found = await _text_sets(ctx, selected.mailbox.id, key)
    uids: list[int] = []
    highest = 0
    async for facts in _facts(ctx, selected, candidates, need(key)):
        if matches(key, facts, sets, found):
            uids.append(facts.uid)
            highest = max(highest, facts.modseq)
    return uids, highest


def _answer(
    ctx: HandlerContext, tag: str, cmd: c.SearchCommand, view: MailboxView, uids: list[int],
    modseq: int | None,
) -> Response | None:
    """The untagged SEARCH or ESEARCH response (None for ``RETURN (SAVE)`` alone)."""
    numbers = uids if cmd.uid else [view.msn_of(u) or 0 for u in uids]
    if cmd.returns is None and not ctx.rev2:
        return search_response(numbers, modseq)
    returns = cmd.returns if cmd.returns is not None else frozenset({"ALL"})
    return esearch_response(tag, numbers, returns, uid=cmd.uid, modseq=modseq)


async def handle_search(
    ctx: HandlerContext, tag: str, cmd: c.SearchCommand
) -> AsyncIterator[Response]:
    """SEARCH / UID SEARCH, with ESEARCH RETURN options and SAVE."""
    selected = ctx.require_selected()
    view = selected.view
    saving = cmd.returns is not None and "SAVE" in cmd.returns
    by_modseq = any(isinstance(k, ModSeqKey) for k in walk(cmd.criteria))
    if by_modseq:
        ctx.enable_condstore()  # RFC 7162 3.1: SEARCH MODSEQ enables CONDSTORE
    try:
        uids, highest = await evaluate(ctx, selected, cmd.criteria)
    except Exception:
        if saving:  # RFC 5182 2.1: a failed SEARCH (RETURN (SAVE)) empties $
            view.save_result([])
        raise
    if saving and cmd.returns is not None:
        view.save_result(saved_uids(uids, cmd.returns))
    response = _answer(ctx, tag, cmd, view, uids, highest if by_modseq else None)
    if response is not None:
        yield response
    yield ok(tag, f"{'UID ' if cmd.uid else ''}SEARCH completed")


HANDLERS: dict[type[c.ImapCommand], CommandHandler] = {c.SearchCommand: handle_search}
