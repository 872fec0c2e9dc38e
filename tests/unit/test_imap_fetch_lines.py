"""The bulk FETCH writer gives the generic path's bytes and bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from posthouse.imap.fetchitems import Attr
from posthouse.imap.handlers.fetch_lines import bulk_responses, is_bulk
from posthouse.imap.handlers.msg_fetchitems import MessageData, plan_fetch, render_items
from posthouse.imap.responses import Response, encode_response
from posthouse.imap.view import MailboxView
from posthouse.store.models import StoredMessage, UidFlags

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
