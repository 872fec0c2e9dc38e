"""Metadata-only FETCH responses in bulk, straight to bytes.

A client that reconnects without CONDSTORE asks ``UID FETCH 1:* (FLAGS)``: one response per
message of the mailbox; its message list asks the same plus a few header fields
(``BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE)]``). When every item asked for is a
number, the flags, the internal date or a top-level header section (no parsed summary, no
implicit \\Seen), the responses of a whole batch are written here into one buffer instead
of one ``Untagged`` object tree per message. Header sections are cut from the message bytes
by the generic path's own function (msg_fetchitems.header_section; HEADER.FIELDS by
sections.top_fields_reader, extract_top's octets with the pattern found once). The bytes
are the same as the generic path's (tests/unit/test_imap_fetch_lines.py compares them), and
so is the bookkeeping: keywords announced before the FETCH that shows them (RFC 9051
7.3.5), the flags recorded as reported. Each header item's writer is worked out once per
batch; the values of top-level ``HEADER.FIELDS`` items are kept per message content
(imap/header_cache.py): ``kept_values`` takes them before the bytes are read, so only the
messages without one are read and scanned.

Flags alone (``UID FETCH 1:* (FLAGS)``, with MODSEQ under CONDSTORE) over much of a mailbox
come from the store's compact listing of the whole mailbox (``Store.uid_list``, what SELECT
reads: arrays, no object per message) instead of per-message metadata: ``listing_responses``.
"""

from __future__ import annotations

import bisect
import functools
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from posthouse.imap.fetchitems import Attr, BodySection, FetchItem
from posthouse.imap.handlers.msg_fetchitems import (
    FetchPlan,
    header_section,
    internaldate_text,
    is_header_section,
    message_bytes,
)
from posthouse.imap.header_cache import HeaderFieldsCache
from posthouse.imap.responses import Encoded, Response, bytes_value
from posthouse.imap.view import MailboxView
from posthouse.message.sections import Spec, extract_top, top_fields_reader
from posthouse.store.models import RECENT, StoredMessage
from posthouse.store.uidlist import UidFlagsList

BULK_ATTRS = frozenset({Attr.UID, Attr.FLAGS, Attr.MODSEQ, Attr.RFC822_SIZE, Attr.INTERNALDATE})
LISTING_ATTRS = frozenset({Attr.UID, Attr.FLAGS, Attr.MODSEQ})
LISTING_MIN = 256  # below this many messages, per-message metadata reads less
FLUSH_BYTES = 256 * 1024  # one written chunk of listing responses


def _bulk_item(item: FetchItem) -> bool:
    if isinstance(item, Attr):
        return item in BULK_ATTRS or item is Attr.RFC822_HEADER
    return isinstance(item, BodySection) and is_header_section(item)


def is_bulk(plan: FetchPlan) -> bool:
    """Whether every response of this plan can be written here."""
    return (not plan.summary and not plan.sets_seen
            and all(_bulk_item(item) for item in plan.items))


# "NAME ", the value's octets from the message, the field names when the encoded value may
# be kept in a HeaderFieldsCache
HeaderReader = tuple[bytes, Callable[[bytes], bytes], tuple[str, ...] | None]
KeptKey = tuple[str, tuple[str, ...]]  # (blob id, field names)


def kept_names(item: FetchItem) -> tuple[str, ...] | None:
    """The field names of a ``BODY[.PEEK][HEADER.FIELDS (...)]`` of the top-level message
    without a partial range: a value a HeaderFieldsCache keeps; None for any other item."""
    if (isinstance(item, BodySection) and not item.binary and not item.section.parts
            and item.partial is None and item.section.text == Spec.HEADER_FIELDS.value):
        return item.section.fields
    return None


def _header_reader(item: FetchItem) -> HeaderReader | None:
    """How a header item's ``NAME value`` is written (RFC822.HEADER or a top-level header
    section), worked out once per FETCH; None for the other items."""
    if isinstance(item, BodySection):
        name = item.response_name().encode("utf-8") + b" "
        names = kept_names(item)
        if names is not None:  # the message list's case
            return name, top_fields_reader(names), names
        return name, functools.partial(_section_of, item), None
    if item is Attr.RFC822_HEADER:
        return b"RFC822.HEADER ", functools.partial(extract_top, spec=Spec.HEADER), None
    return None


def _section_of(item: BodySection, data: bytes) -> bytes:
    return header_section(data, item)


def kept_values(
    plan: FetchPlan, metas: Sequence[StoredMessage], kept: HeaderFieldsCache,
) -> tuple[dict[KeptKey, bytes], list[str]]:
    """The header values of ``metas`` that ``kept`` holds, and the blob ids whose bytes
    ``bulk_responses`` still needs: none unless the plan asks for a header item; only those
    of messages with a value not kept when every header item asked is one a cache keeps
    (``kept_names``); else all. The values are taken now: an entry dropped while the
    bytes are read is still answered."""
    if not plan.blob:
        return {}, []
    names = [reader[2] for reader in map(_header_reader, plan.items) if reader is not None]
    found: dict[KeptKey, bytes] = {}
    if not names or None in names:
        return found, [m.blob_id for m in metas]
    wanted: list[str] = []
    for meta in metas:
        missing = False
        for field_names in names:
            if field_names is None:  # pragma: no cover - excluded above
                continue
            value = kept.get(meta.blob_id, field_names)
            if value is None:
                missing = True
            else:
                found[(meta.blob_id, field_names)] = value
        if missing:
            wanted.append(meta.blob_id)
    return found, wanted


@functools.lru_cache(maxsize=1024)  # bounded: keywords come from clients
def _flag_list(flags: frozenset[str], recent: bool) -> bytes:
    """``(\\Answered \\Seen kw)``: sorted, \\Recent added for a rev1 session's recent."""
    names = sorted(flags | {RECENT}) if recent else sorted(flags)
    return b"(" + " ".join(names).encode("utf-8") + b")"


def bulk_responses(
    view: MailboxView, plan: FetchPlan, metas: Sequence[StoredMessage],
    blobs: Mapping[str, bytes] | None = None, kept: HeaderFieldsCache | None = None,
    known: Mapping[KeptKey, bytes] | None = None,
) -> list[Response]:
    """The FETCH responses of ``metas`` (ascending uids) for a plan that ``is_bulk``; a
    message the view does not know is skipped, as the generic path does. ``blobs`` holds
    the messages' bytes when the plan needs them (``plan.blob``), but for the header
    values in ``known`` (``kept_values``); NotFound for one that is missing, as the generic
    path. The values a cache keeps are put in ``kept``."""
    out: list[Response] = []
    buf = bytearray()
    told_msns: list[int] = []
    told_modseqs: list[int] = []
    learned: set[frozenset[str]] = set()  # flag sets whose keywords the view has taken in
    uidonly, rev1, wants_flags = view.uidonly, not view.rev2, plan.wants_flags
    recent = view.recent_uids if rev1 else frozenset()
    steps = [(item, _header_reader(item)) for item in plan.items]
    found = blobs or {}
    data: bytes | None
    for meta, msn in zip(metas, view.msns_of([m.uid for m in metas]), strict=True):
        if msn is None:
            continue
        flags = meta.flags
        if wants_flags:
            if flags not in learned:  # a set seen before has nothing new to announce
                learned.add(flags)
                announce = view.announce_keywords(flags)
                if announce:
                    if buf:
                        out.append(Encoded(bytes(buf)))
                        buf.clear()
                    out += announce
            told_msns.append(msn)
            told_modseqs.append(meta.modseq)
        data = None  # the message's bytes, looked up when a value is not kept
        parts: list[bytes] = []
        for item, header in steps:
            if header is not None:
                prefix, read, names = header
                value = known.get((meta.blob_id, names)) if known and names else None
                if value is None:
                    if data is None:
                        data = message_bytes(found, meta)
                    value = bytes_value(read(data))
                    if kept is not None and names is not None:
                        kept.put(meta.blob_id, names, value)
                parts.append(prefix + value)
            elif item is Attr.UID:
                parts.append(b"UID %d" % meta.uid)
            elif item is Attr.FLAGS:
                parts.append(b"FLAGS " + _flag_list(flags, meta.uid in recent))
            elif item is Attr.MODSEQ:
                parts.append(b"MODSEQ (%d)" % meta.modseq)
            elif item is Attr.RFC822_SIZE:
                parts.append(b"RFC822.SIZE %d" % meta.size)
            else:  # INTERNALDATE: always a quotable US-ASCII string
                parts.append(b'INTERNALDATE "' + internaldate_text(meta.internaldate).encode()
                             + b'"')
        buf += b"* %d UIDFETCH (" % meta.uid if uidonly else b"* %d FETCH (" % msn
        buf += b" ".join(parts)
        buf += b")\r\n"
    if buf:
        out.append(Encoded(bytes(buf)))
    if told_msns:
        view.record_flags_at(told_msns, told_modseqs)  # reported: no unsolicited FETCH
    return out


def uses_listing(plan: FetchPlan, count: int, exists: int) -> bool:
    """Whether a FETCH of ``count`` of ``exists`` messages is answered from the mailbox's
    listing: only UID, FLAGS and MODSEQ asked, over at least a quarter of the mailbox."""
    return (count >= LISTING_MIN and 4 * count >= exists and not plan.summary
            and not plan.blob and not plan.sets_seen
            and all(isinstance(item, Attr) and item in LISTING_ATTRS for item in plan.items))


def listing_responses(
    view: MailboxView, plan: FetchPlan, uids: Sequence[int], listing: UidFlagsList,
    changedsince: int | None,
) -> tuple[list[Response], list[int]]:
    """The FETCH responses of ``uids`` (ascending) from ``listing`` (the store's listing of
    the whole mailbox), and the uids it no longer holds (expunged elsewhere since the view
    was made: the caller reads those as the generic path does). Same bytes and bookkeeping
    as ``bulk_responses``."""
    out: list[Response] = []
    missing: list[int] = []
    buf = bytearray()
    known, modseqs, flag_ids, flag_sets = (listing.uids, listing.modseqs, listing.flag_ids,
                                           listing.flag_sets)
    whole = (changedsince is None and len(uids) == view.exists == len(known)
             and view.uids == known)
    rows: Iterable[tuple[int, int, int, int]]
    if whole:
        rows = zip(range(1, len(known) + 1), known, modseqs, flag_ids, strict=True)
        shown = set(flag_ids)
    else:
        rows = list(_rows_of(view, uids, listing, missing))
        shown = {row[3] for row in rows}
    if plan.wants_flags:  # keywords announced before the FETCH that shows them (7.3.5)
        for flag_id in sorted(shown):
            out += view.announce_keywords(flag_sets[flag_id])
    texts = [_flag_list(flags, False) for flags in flag_sets]
    recent = view.recent_uids if not view.rev2 else frozenset()
    line, pick = _line_format(plan.items, uidonly=view.uidonly)
    told_msns: list[int] = []
    told_modseqs: list[int] = []
    for msn, uid, modseq, flag_id in rows:
        if changedsince is not None and modseq <= changedsince:
            continue
        text = texts[flag_id]
        if recent and uid in recent:
            text = _flag_list(flag_sets[flag_id], True)
        buf += line % pick((msn, uid, text, modseq))
        if not whole:
            told_msns.append(msn)
            told_modseqs.append(modseq)
        if len(buf) >= FLUSH_BYTES:
            out.append(Encoded(bytes(buf)))
            buf.clear()
    if buf:
        out.append(Encoded(bytes(buf)))
    if plan.wants_flags:
        if whole:
            view.record_all_flags(modseqs)
        elif told_msns:
            view.record_flags_at(told_msns, told_modseqs)
    return out, missing


def _rows_of(view: MailboxView, uids: Sequence[int], listing: UidFlagsList,
             missing: list[int]) -> Iterator[tuple[int, int, int, int]]:
    """(msn, uid, modseq, flag id) of each of ``uids`` the view and the listing know; the
    uids the listing lacks go to ``missing``."""
    known = listing.uids
    count, at = len(known), 0
    for uid, msn in zip(uids, view.msns_of(uids), strict=True):
        if msn is None:
            continue
        at = bisect.bisect_left(known, uid, at)
        if at >= count or known[at] != uid:
            missing.append(uid)
            continue
        yield msn, uid, listing.modseqs[at], listing.flag_ids[at]


@functools.lru_cache(maxsize=64)
def _line_format(items: tuple[FetchItem, ...], *, uidonly: bool
                 ) -> tuple[bytes, Callable[[tuple[int, int, bytes, int]], tuple[Any, ...]]]:
    """The %-format of one listing response line and the picker of its values from
    (msn, uid, flag text, modseq)."""
    parts, order = [], [1 if uidonly else 0]
    for item in items:
        if item is Attr.UID:
            parts.append(b"UID %d")
            order.append(1)
        elif item is Attr.FLAGS:
            parts.append(b"FLAGS %s")
            order.append(2)
        else:
            parts.append(b"MODSEQ (%d)")
            order.append(3)
    head = b"* %d UIDFETCH (" if uidonly else b"* %d FETCH ("
    picker = operator.itemgetter(*order)
    return head + b" ".join(parts) + b")\r\n", picker
