"""SEARCH and UID SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4, ESEARCH RFC 4731, SEARCHRES
RFC 5182).

Cost: criteria that need no more than flags and modseqs are evaluated a set at a time
(msg_search_sets.py): sequence, UID, ``$``, ALL and \\Recent keys from the session's view,
flag and MODSEQ keys from the uid list grouped by flag set, header and text keys one indexed
store query each (``search_text``), no per-message object. Size, date and object-id keys read
metadata in batches (SENT* and THREADID the cached parse) and test each message. Message
bytes are never read.

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
from posthouse.imap.handlers.msg_search_sets import FlagTable, ascending, select
from posthouse.imap.responses import Response
from posthouse.imap.search import HeaderKey, ModSeqKey, SearchKey, SeqKey
from posthouse.imap.view import MailboxView
from posthouse.store.models import UidFlags

META_BATCH = 500
SUMMARY_BATCH = 100
# Flag keys over fewer candidates than 1/FEW_ROWS of the mailbox read their metadata rows
# (a Python object each); over more, one pass over the whole mailbox in SQLite is cheaper.
FEW_ROWS = 16


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
    """Facts (metadata rows, with the cached parse for ``Need.SUMMARY``) for the uids that
    still exist; criteria that need less go through ``_evaluate_sets``."""
    view, box = selected.view, selected.mailbox.id
    lowered: dict[frozenset[str], frozenset[str]] = {}  # messages share a few flag sets
    summary = level is Need.SUMMARY
    step = SUMMARY_BATCH if summary else META_BATCH
    for start in range(0, len(uids), step):
        for meta in await ctx.store.fetch_meta(box, uids[start:start + step],
                                               with_summary=summary):
            sent = meta.summary.sent_date if meta.summary is not None else None
            thread = (objectid.thread_id(meta.summary, meta.blob_id)
                      if meta.summary is not None else "")
            flags = lowered.get(meta.flags)
            if flags is None:
                flags = lowered[meta.flags] = frozenset(f.lower() for f in meta.flags)
            yield Facts(meta.uid, view.is_recent(meta.uid), flags, meta.modseq,
                        meta.size, meta.internaldate, sent, meta.savedate,
                        objectid.email_id(meta.blob_id), thread)


def _candidates(key: SearchKey, view: MailboxView, sets: dict[SeqKey, set[int]]) -> list[int]:
    """The uids worth testing, ascending: those the client knows, narrowed by top-level
    sequence keys, without the ones expunged but not yet announced (they match nothing)."""
    narrowed = narrow(key, view.uids, sets)
    gone = view.gone
    return [u for u in narrowed if u not in gone] if gone else narrowed


async def _flag_table(
    ctx: HandlerContext, selected: Selected, uids: list[int], wanted: set[int], *,
    modseqs: bool,
) -> FlagTable:
    """The flags (and modseqs if asked) of the given uids that still exist."""
    mailbox_id = selected.mailbox.id
    if len(uids) * FEW_ROWS < selected.view.exists:
        rows: list[UidFlags] = []
        for start in range(0, len(uids), META_BATCH):
            rows += (UidFlags(m.uid, m.modseq, m.flags) for m in
                     await ctx.store.fetch_meta(mailbox_id, uids[start:start + META_BATCH]))
        return FlagTable.from_rows(rows, wanted)
    if modseqs:
        return FlagTable.from_rows(await ctx.store.uid_list(mailbox_id), wanted)
    return FlagTable(await ctx.store.uids_by_flags(mailbox_id), wanted)


async def _evaluate_sets(
    ctx: HandlerContext, selected: Selected, key: SearchKey, candidates: list[int],
    sets: dict[SeqKey, set[int]], found: dict[TextQuery, set[int]],
) -> tuple[list[int], int]:
    """``evaluate`` for criteria that need flags and modseqs at most, a set at a time
    (msg_search_sets.py): no per-message objects."""
    among: set[int] = set(candidates)
    table = None
    with_modseqs = any(isinstance(k, ModSeqKey) for k in walk(key))
    if need(key) is Need.FLAGS:
        table = await _flag_table(ctx, selected, candidates, among, modseqs=with_modseqs)
        among = table.uids  # the candidates the store still has
    chosen = select(key, among, table=table, recent=selected.view.recent_uids, sets=sets,
                    found=found)
    uids = ascending(chosen, candidates)
    modseqs = table.modseqs if table is not None and with_modseqs else {}
    highest = max((modseqs[u] for u in uids), default=0) if modseqs else 0
    return uids, highest


async def evaluate(
    ctx: HandlerContext, selected: Selected, key: SearchKey
) -> tuple[list[int], int]:
    """The uids (ascending) of the messages the client knows that match ``key``, and the
    highest modseq among them (0 if none; when the criteria need no more than flags, 0
    unless they have a MODSEQ key, the only case that reports it)."""
    view = selected.view
    sets = _seq_sets(key, view)
    candidates = _candidates(key, view, sets)
    if not candidates:
        return [], 0
    found = await _text_sets(ctx, selected.mailbox.id, key)
    if need(key) <= Need.FLAGS:
        return await _evaluate_sets(ctx, selected, key, candidates, sets, found)
    uids: list[int] = []
    highest = 0
    async for facts in _facts(ctx, selected, candidates, need(key)):
        if matches(key, facts, sets, found):
            uids.append(facts.uid)
            highest = max(highest, facts.modseq)
    return uids, highest


def _msns(view: MailboxView, uids: list[int]) -> list[int]:
    """The message numbers of ascending ``uids`` (all known to the client)."""
    if len(uids) == view.exists:
        return list(range(1, len(uids) + 1))
    if len(uids) * 8 < view.exists:
        return [n or 0 for n in view.msns_of(uids)]
    chosen = set(uids)
    return [n for n, uid in enumerate(view.uids, 1) if uid in chosen]


def _answer(
    ctx: HandlerContext, tag: str, cmd: c.SearchCommand, view: MailboxView, uids: list[int],
    modseq: int | None,
) -> Response | None:
    """The untagged SEARCH or ESEARCH response (None for ``RETURN (SAVE)`` alone)."""
    numbers = uids if cmd.uid else _msns(view, uids)
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
