"""The bulk FETCH writer gives the generic path's bytes and bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from posthouse.imap.commands import FetchCommand
from posthouse.imap.connection import ImapConnection
from posthouse.imap.events import RawCommand
from posthouse.imap.fetchitems import Attr, FetchItem
from posthouse.imap.handlers.fetch_lines import (
    bulk_responses,
    is_bulk,
    kept_values,
    listing_responses,
)
from posthouse.imap.handlers.msg_fetchitems import Body, MessageData, plan_fetch, render_items
from posthouse.imap.header_cache import ENTRY_OVERHEAD, HeaderFieldsCache
from posthouse.imap.parser import parse_command
from posthouse.imap.responses import Response, encode_response
from posthouse.imap.view import MailboxView
from posthouse.store.errors import NotFound
from posthouse.store.models import StoredMessage, UidFlags
from posthouse.store.uidlist import UidFlagsList

ME = object()
WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))


def _metas() -> list[StoredMessage]:
    flag_sets = [frozenset(), frozenset({"\\Seen"}), frozenset({"\\Seen", "$Work"}),
                 frozenset({"\\Flagged", "Ürgent", "\\Answered"}), frozenset({"$Work"})]
    return [StoredMessage(uid=uid, modseq=100 + uid, flags=flag_sets[i % len(flag_sets)],
                          internaldate=WHEN if i % 2 else WHEN.astimezone(UTC),
                          size=1000 + i, blob_id=f"{i:064x}")
            for i, uid in enumerate((3, 5, 8, 9, 12, 40, 41))]


def _view(*, rev2: bool, uidonly: bool) -> MailboxView:
    known = [UidFlags(m.uid, 1, frozenset()) for m in _metas() if m.uid != 9]  # 9: unknown
    return MailboxView(known, mailbox_id=1, origin=ME, rev2=rev2, recent_above=8,
                       uidonly=uidonly)


def _generic(view: MailboxView, items: list[Attr], uid: bool) -> list[bytes]:
    plan = plan_fetch(items, uid=uid, read_only=False)
    out: list[Response] = []
    for meta in _metas():
        if view.msn_of(meta.uid) is None:
            continue
        if plan.wants_flags:
            out += view.announce_keywords(meta.flags)
            view.record_flags([UidFlags(meta.uid, meta.modseq, meta.flags)])
        msg = MessageData(meta, view.client_flags(meta.uid, meta.flags))
        response = view.fetch_response(meta.uid, render_items(msg, plan.items,
                                                              add_flags=False))
        assert response is not None
        out.append(response)
    return [encode_response(r) for r in out]


@pytest.mark.parametrize("rev2", [False, True])
@pytest.mark.parametrize("uidonly", [False, True])
@pytest.mark.parametrize("items", [
    [Attr.FLAGS],
    [Attr.FLAGS, Attr.MODSEQ],
    [Attr.RFC822_SIZE, Attr.INTERNALDATE, Attr.FLAGS],
    [Attr.UID],
    [Attr.MODSEQ, Attr.UID, Attr.RFC822_SIZE],
])
@pytest.mark.parametrize("uid", [False, True])
def test_same_bytes_as_the_generic_path(rev2: bool, uidonly: bool, items: list[Attr],
                                        uid: bool) -> None:
    plan = plan_fetch(items, uid=uid and not uidonly, read_only=False)
    assert is_bulk(plan)
    bulk_view, generic_view = _view(rev2=rev2, uidonly=uidonly), _view(rev2=rev2,
                                                                      uidonly=uidonly)
    bulk = b"".join(encode_response(r) for r in bulk_responses(bulk_view, plan, _metas()))
    assert bulk == b"".join(_generic(generic_view, items, uid and not uidonly))
    assert bulk_view.flag_names == generic_view.flag_names  # keywords announced alike
    if Attr.FLAGS in items:
        assert b"* FLAGS (" in bulk  # $Work and Ürgent were new to the client


def test_flags_announced_before_the_fetch_that_shows_them() -> None:
    view = _view(rev2=True, uidonly=False)
    plan = plan_fetch([Attr.FLAGS], uid=True, read_only=False)
    wire = b"".join(encode_response(r) for r in bulk_responses(view, plan, _metas()))
    assert wire.index(b"* FLAGS (") < wire.index(b"$Work")


def test_plans_with_bodies_summaries_or_implicit_seen_are_not_bulk() -> None:
    assert not is_bulk(plan_fetch([Attr.ENVELOPE], uid=True, read_only=False))
    assert not is_bulk(plan_fetch([Attr.RFC822], uid=True, read_only=True))
    assert not is_bulk(plan_fetch([Attr.EMAILID], uid=True, read_only=False))
    assert not is_bulk(plan_fetch([Attr.PREVIEW], uid=True, read_only=False))


# -- header sections: cut from the message bytes ------------------------------------------

MESSAGES = [
    b"From: A <a@example.test>\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nbody\r\n",
    b"from: lower\r\nSUBJECT: folded\r\n  over two lines\r\nX-Other: x\r\n\r\n",
    b"Subject: \xc3\xbcber 8-bit\r\nTo: t\r\n\r\nbody",  # 8-bit: a literal
    b"Subject: " + b"long " * 30 + b"\r\n\r\n",  # over 64 octets: a literal
    b"To: only-to\r\nbad line without colon\r\n\r\n",
    b"Subject: no blank line at the end\r\n",
    b"",
]


def _fetch_items(text: str) -> list[FetchItem]:
    reader = ImapConnection(max_line=10_000, max_literal=10_000)
    reader.receive_data(b"t FETCH 1 " + text.encode() + b"\r\n")
    raw = reader.next_event()
    assert isinstance(raw, RawCommand)
    cmd = parse_command(raw, utf8=False)
    assert isinstance(cmd, FetchCommand)
    return list(cmd.items)


def _with_blobs() -> tuple[list[StoredMessage], dict[str, bytes]]:
    metas = _metas()
    blobs = {m.blob_id: MESSAGES[i % len(MESSAGES)] for i, m in enumerate(metas)}
    return metas, blobs


@pytest.mark.parametrize("rev2", [False, True])
@pytest.mark.parametrize("items", [
    "(BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])",
    "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (From Subject)])",
    "(BODY.PEEK[HEADER])",
    "(BODY.PEEK[HEADER.FIELDS.NOT (TO)] FLAGS)",
    "(BODY.PEEK[HEADER.FIELDS (SUBJECT)]<3.20> BODY.PEEK[HEADER]<0.5> INTERNALDATE)",
    "(RFC822.HEADER MODSEQ)",
])
@pytest.mark.parametrize("read_only", [False, True])
def test_header_sections_give_the_generic_bytes(rev2: bool, items: str,
                                                read_only: bool) -> None:
    wanted = _fetch_items(items)
    plan = plan_fetch(wanted, uid=True, read_only=read_only)
    assert plan.blob
    assert is_bulk(plan)
    metas, blobs = _with_blobs()
    bulk_view, generic_view = _view(rev2=rev2, uidonly=False), _view(rev2=rev2, uidonly=False)
    bulk = b"".join(encode_response(r)
                    for r in bulk_responses(bulk_view, plan, metas, blobs))
    expected: list[Response] = []
    for meta in metas:
        if generic_view.msn_of(meta.uid) is None:
            continue
        if plan.wants_flags:
            expected += generic_view.announce_keywords(meta.flags)
            generic_view.record_flags([UidFlags(meta.uid, meta.modseq, meta.flags)])
        msg = MessageData(meta, generic_view.client_flags(meta.uid, meta.flags),
                          Body(blobs[meta.blob_id]))
        response = generic_view.fetch_response(meta.uid, render_items(msg, plan.items,
                                                                      add_flags=False))
        assert response is not None
        expected.append(response)
    assert bulk == b"".join(encode_response(r) for r in expected)
    assert b"{" in bulk or "HEADER.FIELDS (SUBJECT)" in items  # literals were exercised


@pytest.mark.parametrize("items", [
    "(BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])",
    "(UID FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)] BODY.PEEK[HEADER.FIELDS (TO)])",
    "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] RFC822.HEADER)",
    "(BODY.PEEK[HEADER.FIELDS (SUBJECT)]<3.20>)",
])
def test_kept_header_values_give_the_same_bytes(items: str) -> None:
    """A second FETCH answered from the cache (no message bytes where every header item
    is kept) writes what the first did."""
    plan = plan_fetch(_fetch_items(items), uid=True, read_only=True)
    metas, blobs = _with_blobs()
    kept = HeaderFieldsCache()
    assert kept_values(plan, metas, kept) == ({}, [m.blob_id for m in metas])
    first = b"".join(encode_response(r) for r in bulk_responses(
        _view(rev2=True, uidonly=False), plan, metas, blobs, kept))
    known, wanted = kept_values(plan, metas, kept)
    cacheable = "RFC822.HEADER" not in items and "<" not in items
    unknown = [m.blob_id for m in metas if _view(rev2=True, uidonly=False).msn_of(m.uid) is None]
    assert unknown  # a message the view does not know is skipped, so never kept
    assert wanted == (unknown if cacheable else [m.blob_id for m in metas])
    assert bool(known) == cacheable
    again = b"".join(encode_response(r) for r in bulk_responses(
        _view(rev2=True, uidonly=False), plan, metas,
        {i: blobs[i] for i in wanted}, kept, known))
    assert again == first
    plain = b"".join(encode_response(r) for r in bulk_responses(
        _view(rev2=True, uidonly=False), plan, metas, blobs))
    assert first == plain


def test_the_header_cache_keeps_its_budget() -> None:
    kept = HeaderFieldsCache(budget_bytes=3 * (100 + ENTRY_OVERHEAD))
    names = ("from",)
    for n in range(5):
        kept.put(f"{n:064x}", names, bytes(100))
    assert len(kept) == 3
    assert kept.get(f"{0:064x}", names) is None  # the least recently used went first
    assert kept.get(f"{2:064x}", names) == bytes(100)
    kept.put(f"{5:064x}", names, bytes(100))  # 3 was used less recently than 2
    assert kept.get(f"{3:064x}", names) is None
    assert kept.get(f"{2:064x}", names) is not None
    kept.put(f"{6:064x}", names, bytes(4 * (100 + ENTRY_OVERHEAD)))  # past the budget: not kept
    assert len(kept) == 3


def test_other_sections_and_implicit_seen_are_not_bulk() -> None:
    for items in ("(BODY.PEEK[])", "(BODY.PEEK[TEXT])", "(BODY.PEEK[1.HEADER])",
                  "(BINARY.PEEK[1])", "(RFC822.TEXT)", "(BODY.PEEK[HEADER] ENVELOPE)"):
        assert not is_bulk(plan_fetch(_fetch_items(items), uid=True, read_only=True)), items
    seen = plan_fetch(_fetch_items("(BODY[HEADER])"), uid=True, read_only=False)
    assert not is_bulk(seen)  # sets \Seen: the generic path
    assert is_bulk(plan_fetch(_fetch_items("(BODY[HEADER])"), uid=True, read_only=True))


def test_a_missing_message_fails_as_in_the_generic_path() -> None:
    plan = plan_fetch(_fetch_items("(BODY.PEEK[HEADER])"), uid=True, read_only=True)
    with pytest.raises(NotFound):
        bulk_responses(_view(rev2=True, uidonly=False), plan, _metas(), {})


def _fetch_lines(encoded: bytes) -> list[bytes]:
    return [line for line in encoded.split(b"\r\n") if b"FETCH (" in line]


@pytest.mark.parametrize("rev2", [False, True])
@pytest.mark.parametrize("uidonly", [False, True])
@pytest.mark.parametrize("items", [[Attr.FLAGS], [Attr.FLAGS, Attr.MODSEQ], [Attr.MODSEQ]])
@pytest.mark.parametrize("whole", [False, True])
def test_listing_gives_the_generic_lines(rev2: bool, uidonly: bool, items: list[Attr],
                                         whole: bool) -> None:
    """From the mailbox's listing: the same FETCH lines and keywords; a uid the listing
    lacks (expunged elsewhere) is handed back; with the whole view, one pass (``whole``)."""
    metas = _metas()
    if whole:
        known = [UidFlags(m.uid, 1, frozenset()) for m in metas]
        listing_view = MailboxView(known, mailbox_id=1, origin=ME, rev2=rev2, recent_above=8,
                                   uidonly=uidonly)
        generic_view = MailboxView(known, mailbox_id=1, origin=ME, rev2=rev2, recent_above=8,
                                   uidonly=uidonly)
        listed = metas
    else:
        listing_view, generic_view = _view(rev2=rev2, uidonly=uidonly), _view(rev2=rev2,
                                                                             uidonly=uidonly)
        listed = [m for m in metas if m.uid != 12]  # 12: gone from the store meanwhile
    plan = plan_fetch(items, uid=not uidonly, read_only=False)
    listing = UidFlagsList.of([UidFlags(m.uid, m.modseq, m.flags) for m in listed])
    wanted = list(listing_view.uids)
    responses, missing = listing_responses(listing_view, plan, wanted, listing, None)
    assert missing == ([] if whole else [12])
    got = b"".join(encode_response(r) for r in responses)
    generic = b"".join(_generic(generic_view, items, not uidonly))
    expected = [line for line in _fetch_lines(generic)
                if whole or (b"UID 12 " not in line and not line.startswith(b"* 12 UIDFETCH"))]
    assert _fetch_lines(got) == expected
    assert listing_view.flag_names == generic_view.flag_names
    if Attr.FLAGS in items:
        assert got.index(b"* FLAGS (") < got.index(b"FETCH (")  # announced before shown
