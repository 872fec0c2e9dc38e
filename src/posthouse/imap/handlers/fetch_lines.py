"""Metadata-only FETCH responses in bulk, straight to bytes.

A client that reconnects without CONDSTORE asks ``UID FETCH 1:* (FLAGS)``: one response per
message of the mailbox; its message list asks the same plus a few header fields
(``BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE)]``). When every item asked for is a
number, the flags, the internal date or a top-level header section (no parsed summary, no
implicit \\Seen), the responses of a whole batch are written here into one buffer instead of
one ``Untagged`` object tree per message. Header sections are cut from the message bytes
by the generic path's own function (msg_fetchitems.header_section). The bytes are the same
as the generic path's (tests/unit/test_imap_fetch_lines.py compares them), and so is the
bookkeeping: keywords announced before the FETCH that shows them (RFC 9051 7.3.5), the
flags recorded as reported.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from posthouse.imap.fetchitems import Attr, BodySection, FetchItem
from posthouse.imap.handlers.msg_fetchitems import (
    FetchPlan,
    header_section,
    internaldate_text,
    is_header_section,
    message_bytes,
)
from posthouse.imap.responses import Encoded, Response, bytes_value
from posthouse.imap.view import MailboxView
from posthouse.message.sections import Spec, extract_top
from posthouse.store.models import RECENT, StoredMessage, UidFlags

BULK_ATTRS = frozenset({Attr.UID, Attr.FLAGS, Attr.MODSEQ, Attr.RFC822_SIZE, Attr.INTERNALDATE})


def _bulk_item(item: FetchItem) -> bool:
    if isinstance(item, Attr):
        return item in BULK_ATTRS or item is Attr.RFC822_HEADER
    return isinstance(item, BodySection) and is_header_section(item)


def is_bulk(plan: FetchPlan) -> bool:
    """Whether every response of this plan can be written here."""
    return (not plan.summary and not plan.sets_seen
            and all(_bulk_item(item) for item in plan.items))


def _header_value(item: FetchItem, data: bytes) -> bytes:
    """``NAME value`` of a header item (RFC822.HEADER or a top-level header section)."""
    if isinstance(item, BodySection):
        return _name(item) + b" " + bytes_value(header_section(data, item))
    return b"RFC822.HEADER " + bytes_value(extract_top(data, Spec.HEADER))


@functools.lru_cache(maxsize=256)
def _name(item: BodySection) -> bytes:
    return item.response_name().encode("utf-8")


@functools.lru_cache(maxsize=1024)  # bounded: keywords come from clients
def _flag_list(flags: frozenset[str], recent: bool) -> bytes:
    """``(\\Answered \\Seen kw)``: sorted, \\Recent added for a rev1 session's recent."""
    names = sorted(flags | {RECENT}) if recent else sorted(flags)
    return b"(" + " ".join(names).encode("utf-8") + b")"


def bulk_responses(
    view: MailboxView, plan: FetchPlan, metas: Sequence[StoredMessage],
    blobs: Mapping[str, bytes] | None = None,
) -> list[Response]:
    """The FETCH responses of ``metas`` (ascending uids) for a plan that ``is_bulk``; a
    message the view does not know is skipped, as the generic path does. ``blobs`` holds
    the messages' bytes when the plan needs them (``plan.blob``); NotFound for one that is
    missing, as the generic path."""
    out: list[Response] = []
    buf = bytearray()
    reported: list[UidFlags] = []
    uidonly, rev1 = view.uidonly, not view.rev2
    items = plan.items
    for meta, msn in zip(metas, view.msns_of([m.uid for m in metas]), strict=True):
        if msn is None:
            continue
        if plan.wants_flags:
            announce = view.announce_keywords(meta.flags)
            if announce:
                if buf:
                    out.append(Encoded(bytes(buf)))
                    buf.clear()
                out += announce
            reported.append(UidFlags(meta.uid, meta.modseq, meta.flags))
        data = message_bytes(blobs or {}, meta) if plan.blob else b""
        buf += b"* %d UIDFETCH (" % meta.uid if uidonly else b"* %d FETCH (" % msn
        first = True
        for item in items:
            if first:
                first = False
            else:
                buf += b" "
            if item is Attr.UID:
                buf += b"UID %d" % meta.uid
            elif item is Attr.FLAGS:
                buf += b"FLAGS " + _flag_list(meta.flags, rev1 and view.is_recent(meta.uid))
            elif item is Attr.MODSEQ:
                buf += b"MODSEQ (%d)" % meta.modseq
            elif item is Attr.RFC822_SIZE:
                buf += b"RFC822.SIZE %d" % meta.size
            elif item is Attr.INTERNALDATE:  # always a quotable US-ASCII string
                buf += b'INTERNALDATE "' + internaldate_text(meta.internaldate).encode() + b'"'
            else:
                buf += _header_value(item, data)
        buf += b")\r\n"
    if buf:
        out.append(Encoded(bytes(buf)))
    if reported:
        view.record_flags(reported)
    return out
