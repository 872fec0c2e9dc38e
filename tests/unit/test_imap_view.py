"""The per-session mailbox view: numbering, sequence sets, pending updates (RFC 9051 7.5.1)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posthouse.imap.replies import ImapError
from posthouse.imap.responses import Atom, Response, Untagged, encode_response
from posthouse.imap.sequence import SequenceSet, compress
from posthouse.imap.view import MailboxView
from posthouse.store.events import (
    FlagsChanged,
    MailboxListChanged,
    MessagesAdded,
    MessagesExpunged,
)
from posthouse.store.models import UidFlags

ME = object()
OTHER = object()
S = SequenceSet.parse


def msgs(*uids: int, seen: tuple[int, ...] = ()) -> list[UidFlags]:
    return [UidFlags(u, 1, frozenset({"\\Seen"}) if u in seen else frozenset()) for u in uids]


def view(*uids: int, **kw: object) -> MailboxView:
    return MailboxView(msgs(*uids), mailbox_id=7, origin=ME, rev2=True, **kw)  # type: ignore[arg-type]


def wire(responses: Sequence[Response]) -> list[bytes]:
    return [encode_response(r).rstrip(b"\r\n") for r in responses]


def added(*uids: int, origin: object = OTHER, mailbox_id: int = 7) -> MessagesAdded:
    return MessagesAdded(1, mailbox_id, uids, 5, origin)


def gone(*uids: int, origin: object = OTHER) -> MessagesExpunged:
    return MessagesExpunged(1, 7, uids, 5, origin)


def flags(uid: int, modseq: int, *names: str, origin: object = OTHER) -> FlagsChanged:
    return FlagsChanged(1, 7, (UidFlags(uid, modseq, frozenset(names)),), modseq, origin)


def test_numbering() -> None:
    v = MailboxView(msgs(10, 20, 30, seen=(10,)), mailbox_id=7, origin=ME)
    assert v.exists == 3
    assert list(v.uids) == [10, 20, 30]
    assert v.uid_of(2) == 20
    assert v.msn_of(30) == 3
    assert v.msn_of(25) is None
    assert v.first_unseen == 2
    with pytest.raises(IndexError):
        v.uid_of(4)
    with pytest.raises(IndexError):
        v.uid_of(0)


def test_unsorted_input_is_sorted() -> None:
    v = MailboxView(msgs(30, 10, 20, 10), mailbox_id=7, origin=ME)
    assert list(v.uids) == [10, 20, 30]


@pytest.mark.parametrize(
    ("text", "uid", "expected"),
    [
        ("1", False, [10]),
        ("1:*", False, [10, 20, 30, 40]),
        ("*", False, [40]),
        ("*:3", False, [30, 40]),
        ("4,1,2:3,2", False, [10, 20, 30, 40]),
        ("3:9", False, [30, 40]),
        ("5:*", False, [40]),  # "*" is 4: the range is 4:5, clipped
        ("20:30", True, [20, 30]),
        ("1:25", True, [10, 20]),
        ("15", True, []),
        ("*", True, [40]),
        ("100:*", True, [40]),  # RFC 9051 6.4.9: includes the last uid
        ("30:*,10", True, [10, 30, 40]),
    ],
)
def test_resolve(text: str, uid: bool, expected: list[int]) -> None:
    assert view(10, 20, 30, 40).resolve(S(text), uid=uid) == expected


def test_resolve_msn_out_of_range_is_bad_unless_lenient() -> None:
    v = view(10, 20)
    with pytest.raises(ImapError) as info:
        v.resolve(S("3"), uid=False)
    assert info.value.status.value == "BAD"
    assert v.resolve(S("3"), uid=False, strict=False) == []
    assert view().resolve(S("1:*"), uid=False) == []
    assert view().resolve(S("1:*"), uid=True) == []


def test_saved_result() -> None:
    v = view(10, 20, 30)
    assert v.resolve(S("$"), uid=False) == []
    v.save_result([30, 10, 99])
    assert v.resolve(S("$"), uid=True) == [10, 30]
    v.apply(gone(10))
    v.flush(allow_expunge=True)
    assert v.resolve(S("$"), uid=False) == [30]


def test_new_messages_give_exists() -> None:
    v = view(1, 2)
    v.apply(added(3, 4))
    assert v.exists == 2  # not announced yet
    assert v.has_new
    assert wire(v.flush(allow_expunge=False)) == [b"* 4 EXISTS"]
    assert v.exists == 4
    assert v.flush(allow_expunge=True) == []


def test_duplicate_and_stale_adds_are_ignored() -> None:
    v = view(1, 2, 5)
    v.apply(added(2, 3, 5))  # all at or below the highest known uid: from before the snapshot
    v.apply(added(6, origin=ME))
    v.apply(added(6))
    assert wire(v.flush(allow_expunge=True)) == [b"* 4 EXISTS"]


def test_other_mailboxes_and_list_events_are_ignored() -> None:
    v = view(1)
    v.apply(added(2, mailbox_id=8))
    v.apply(MailboxListChanged(1))
    assert not v.pending


def test_expunges_wait_and_keep_numbers() -> None:
    v = view(10, 20, 30, 40, 50)
    v.apply(gone(20, 40))
    v.apply(added(60))
    # during FETCH: no EXPUNGE; EXISTS counts the expunged ones still
    assert wire(v.flush(allow_expunge=False)) == [b"* 6 EXISTS"]
    assert v.msn_of(30) == 3
    assert v.is_expunged(20)
    assert v.resolve(S("2:4"), uid=False) == [20, 30, 40]
    # after NOOP: ascending, each number as it is after the ones before
    assert wire(v.flush(allow_expunge=True)) == [b"* 2 EXPUNGE", b"* 3 EXPUNGE"]
    assert list(v.uids) == [10, 30, 50, 60]
    assert not v.is_expunged(20)


def test_expunge_of_consecutive_messages() -> None:
    v = view(1, 2, 3, 4)
    v.apply(gone(2, 3, 4))
    v.apply(gone(3))  # twice: no effect
    assert wire(v.flush(allow_expunge=True)) == [b"* 2 EXPUNGE"] * 3
    assert list(v.uids) == [1]


def test_expunge_of_unannounced_message_is_silent() -> None:
    v = view(1)
    v.apply(added(2, 3))
    v.apply(gone(2))
    assert wire(v.flush(allow_expunge=True)) == [b"* 2 EXISTS"]
    assert list(v.uids) == [1, 3]


def test_flag_changes_from_others_are_announced() -> None:
    v = view(10, 20)
    v.apply(flags(20, 7, "\\Seen", "$Work"))
    assert wire(v.flush(allow_expunge=False)) == [  # a new keyword: FLAGS first (9051 7.3.5)
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)]"
        b" Permanent flags",
        b"* 2 FETCH (UID 20 FLAGS ($Work \\Seen))"]
    assert v.flush(allow_expunge=False) == []
    v.apply(flags(10, 8, "$work"))  # known already (keywords are case-insensitive)
    assert wire(v.flush(allow_expunge=False)) == [b"* 1 FETCH (UID 10 FLAGS ($work))"]


def test_flag_change_of_expunged_message_is_dropped() -> None:
    v = view(10, 20)
    v.apply(flags(20, 7, "\\Seen"))
    v.apply(gone(20))
    v.apply(flags(20, 8, "\\Deleted"))
    assert wire(v.flush(allow_expunge=False)) == []
    assert wire(v.flush(allow_expunge=True)) == [b"* 2 EXPUNGE"]


def test_own_flag_changes_are_not_repeated() -> None:
    v = view(10, 20)
    v.apply(flags(10, 7, "\\Seen", origin=ME))
    assert v.flush(allow_expunge=True) == []


def test_stale_change_is_not_replayed_over_own_report() -> None:
    v = view(10)
    other = flags(10, 7, "\\Flagged")  # committed first, drained late
    v.record_flags([UidFlags(10, 8, frozenset({"\\Flagged", "\\Seen"}))])  # STORE answered
    v.apply(other)
    v.apply(flags(10, 8, "\\Flagged", "\\Seen", origin=ME))
    assert v.flush(allow_expunge=True) == []
    v.apply(flags(10, 9, "\\Seen"))  # a newer change by someone else
    assert wire(v.flush(allow_expunge=True)) == [b"* 1 FETCH (UID 10 FLAGS (\\Seen))"]


def test_record_flags_drops_an_older_pending_change() -> None:
    v = view(10)
    v.apply(flags(10, 7, "\\Flagged"))
    v.record_flags([UidFlags(10, 8, frozenset())])
    assert v.flush(allow_expunge=True) == []


def test_condstore_adds_modseq() -> None:
    v = view(10, condstore=True)
    v.apply(flags(10, 12, "\\Seen"))
    assert wire(v.flush(allow_expunge=True)) == [
        b"* 1 FETCH (UID 10 FLAGS (\\Seen) MODSEQ (12))"]
    assert v.highestmodseq == 12


def test_recent_in_imap4rev1() -> None:
    v = MailboxView(msgs(1, 2, 3), mailbox_id=7, origin=ME, recent_above=2)
    assert v.recent_count == 1
    assert v.is_recent(3)
    assert not v.is_recent(2)
    assert v.client_flags(3, {"\\Seen"}) == [Atom("\\Recent"), Atom("\\Seen")]
    v.apply(added(4, 5))
    v.claim_recent_above(3)  # the session claimed the new ones
    assert wire(v.flush(allow_expunge=True)) == [b"* 5 EXISTS", b"* 3 RECENT"]
    v.apply(added(6))  # another session claimed it first
    assert wire(v.flush(allow_expunge=True)) == [b"* 6 EXISTS", b"* 3 RECENT"]
    v.apply(gone(3))
    assert wire(v.flush(allow_expunge=True)) == [b"* 3 EXPUNGE", b"* 2 RECENT"]


def test_no_recent_in_imap4rev2() -> None:
    v = MailboxView(msgs(1, 2), mailbox_id=7, origin=ME, rev2=True, recent_above=0)
    assert v.recent_count == 0
    v.apply(added(3))
    v.claim_recent_above(0)
    assert wire(v.flush(allow_expunge=True)) == [b"* 3 EXISTS"]
    assert v.client_flags(3, ()) == []


def test_hundred_thousand_messages() -> None:
    messages = [UidFlags(u, u, frozenset({"\\Seen"})) for u in range(1, 200_001, 2)]
    start = time.perf_counter()
    v = MailboxView(messages, mailbox_id=7, origin=ME)
    assert v.exists == 100_000
    assert len(v.resolve(S("1:*"), uid=False)) == 100_000
    assert v.resolve(S("50000:50001"), uid=True) == [50001]
    assert v.msn_of(199_999) == 100_000
    v.apply(gone(*range(1, 100_001, 2)))
    v.apply(added(200_001))
    assert len(v.flush(allow_expunge=True)) == 50_000 + 2  # EXPUNGEs, EXISTS, RECENT
    assert v.exists == 50_001
    assert time.perf_counter() - start < 5


# -- property: the client's picture always matches the view --------------------------

event_st = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 3)),
        st.tuples(st.just("del"), st.lists(st.integers(0, 30), max_size=4)),
        st.tuples(st.just("flag"), st.integers(0, 30)),
        st.tuples(st.just("flush"), st.booleans()),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10), event_st)
def test_client_model_follows_the_responses(initial: int, steps: list[tuple[str, object]]) -> None:
    store = list(range(1, initial + 1))
    next_uid = initial + 1
    modseq = 1
    v = MailboxView(msgs(*store), mailbox_id=7, origin=ME, rev2=True)
    client = list(store)
    for kind, arg in steps:
        modseq += 1
        if kind == "add":
            new = list(range(next_uid, next_uid + int(arg)))  # type: ignore[call-overload]
            next_uid += len(new)
            store += new
            v.apply(added(*new))
        elif kind == "del":
            victims = sorted({store[i] for i in arg if i < len(store)})  # type: ignore[attr-defined]
            store = [u for u in store if u not in victims]
            v.apply(gone(*victims))
        elif kind == "flag" and store:
            v.apply(flags(store[int(arg) % len(store)], modseq, "\\Seen"))  # type: ignore[call-overload]
        else:
            apply_to_client(client, v.flush(allow_expunge=bool(arg)), store)
            assert client == list(v.uids)
            assert all(v.msn_of(u) == i + 1 for i, u in enumerate(client))
    apply_to_client(client, v.flush(allow_expunge=True), store)
    assert client == store == list(v.uids)


def apply_to_client(client: list[int], responses: list[Response], store: list[int]) -> None:
    for response in responses:
        assert isinstance(response, Untagged)
        if response.data[0] == Atom("FLAGS"):
            continue
        number, kind = response.data[0], response.data[1]
        assert isinstance(number, int)
        if kind == Atom("EXPUNGE"):
            del client[number - 1]
        elif kind == Atom("EXISTS"):
            assert number >= len(client)
            last = client[-1] if client else 0
            client += [u for u in store if u > last][: number - len(client)]
            assert len(client) == number
        else:
            assert kind == Atom("FETCH")
            items = response.data[2]
            assert isinstance(items, list)
            assert client[number - 1] == items[1]  # the msn names the right uid


def test_compress() -> None:
    assert compress([1, 2, 3, 7, 9, 10]) == "1:3,7,9:10"
    assert compress([]) == ""
    assert str(S("1:3,7:*")) == "1:3,7:*"
    assert str(S("$")) == "$"


def test_qresync_sends_one_vanished() -> None:
    """RFC 7162 3.2.10: with QRESYNC, expunges are one VANISHED uid-set."""
    v = view(1, 2, 3, 5, 8, qresync=True)
    v.apply(MessagesExpunged(1, 7, (2, 3, 8), 9, OTHER))
    assert wire(v.flush(allow_expunge=False)) == []
    assert wire(v.flush(allow_expunge=True)) == [b"* VANISHED 2:3,8"]
    assert list(v.uids) == [1, 5]


def test_vanished_earlier_exact_and_conservative() -> None:
    """Tombstones inside the client's set that the view no longer holds; without complete
    tombstones, every uid up to the ceiling the view does not hold (RFC 7162 3.2.5.1)."""
    v = view(1, 4, 6, 9)
    v.apply(added(12))  # pending: still held
    assert v.vanished_earlier([2, 3, 7, 4], complete=True, within=None, ceiling=12) == [2, 3, 7]
    assert v.vanished_earlier([2, 3, 7], complete=True, within=S("3:7"), ceiling=12) == [3, 7]
    assert v.vanished_earlier([], complete=False, within=S("1:5,8"), ceiling=12) == [2, 3, 5, 8]
    assert v.vanished_earlier([], complete=False, within=None, ceiling=12) == [
        2, 3, 5, 7, 8, 10, 11]
    assert v.last_uid == 12
    assert v.holds(12)
    assert not v.holds(11)


def test_flush_can_hold_new_messages_and_flag_changes() -> None:
    """NOTIFY (RFC 5465 5, 6.1): what the SELECTED group did not ask for waits."""
    v = view(1, 2)
    v.apply(added(3))
    v.apply(flags(1, 9, "\\Flagged"))
    v.apply(gone(2))
    assert not v.own_change
    assert wire(v.flush(allow_expunge=False, allow_new=False, allow_flags=False)) == []
    assert v.announced == ()
    assert wire(v.flush(allow_expunge=False, allow_new=True, allow_flags=False)) == [
        b"* 3 EXISTS"]
    assert v.announced == (3,)
    v.apply(added(4))
    assert wire(v.flush(allow_expunge=True, allow_new=True, allow_flags=True)) == [
        b"* 2 EXPUNGE", b"* 3 EXISTS", b"* 1 FETCH (UID 1 FLAGS (\\Flagged))"]
    assert v.announced == (3, 4)  # kept until the caller takes them


def test_own_changes_are_marked_until_told() -> None:
    v = view(1, 2)
    v.apply(gone(1, origin=ME))
    assert v.own_change
    v.flush(allow_expunge=False, allow_new=True)  # e.g. between commands: still owed
    assert v.own_change
    v.flush(allow_expunge=True, allow_new=True)
    assert not v.own_change
    v.note_added([5])  # a handler's own APPEND
    assert v.own_change
