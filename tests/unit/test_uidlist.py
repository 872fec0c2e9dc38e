"""UidFlagsList: the compact (uid, modseq, flags) list SELECT reads, and a view built on it."""

from __future__ import annotations

from array import array

import pytest

from posthouse.imap.view import MailboxView
from posthouse.store.models import SEEN, UidFlags
from posthouse.store.uidlist import UidFlagsList

SEEN_SET = frozenset({SEEN})
KEYWORD_SET = frozenset({"$Work", "\\Flagged"})
NONE: frozenset[str] = frozenset()


def items() -> list[UidFlags]:
    return [UidFlags(3, 10, SEEN_SET), UidFlags(5, 11, SEEN_SET), UidFlags(9, 12, KEYWORD_SET),
            UidFlags(12, 9, NONE), UidFlags(40, 13, SEEN_SET)]


def test_a_compact_list_is_the_sequence_it_was_made_of() -> None:
    compact = UidFlagsList.of(items())
    assert compact == items()
    assert list(compact) == items()
    assert len(compact) == 5
    assert compact[-1] == UidFlags(40, 13, SEEN_SET)
    assert compact[1:3] == items()[1:3]
    assert compact.flag_sets == (SEEN_SET, KEYWORD_SET, NONE)  # each distinct set once
    assert list(compact.flag_ids) == [0, 0, 1, 2, 0]
    assert compact != items()[:4]
    assert UidFlagsList.of([]) == []


def test_first_index_without_a_flag() -> None:
    compact = UidFlagsList.of(items())
    assert compact.first_index_without(SEEN) == 2
    assert compact.first_index_without("\\Flagged") == 0
    assert UidFlagsList.of(items()[:2]).first_index_without(SEEN) is None
    assert UidFlagsList.of([]).first_index_without(SEEN) is None


def test_arrays_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        UidFlagsList(array("L", [1, 2]), array("Q", [1]), array("I", [0, 0]), [NONE])


def test_a_view_from_the_compact_list_equals_one_from_plain_items() -> None:
    compact = UidFlagsList.of(items())
    fast = MailboxView(compact, mailbox_id=1, origin=None, recent_above=9)
    plain = MailboxView(items(), mailbox_id=1, origin=None, recent_above=9)
    for view in (fast, plain):
        assert list(view.uids) == [3, 5, 9, 12, 40]
        assert view.first_unseen == 3
        assert view.highestmodseq == 13
        assert view.flag_names[-1] == "$Work"
        assert view.recent_count == 2
    fast.note_added([41])
    fast.flush(allow_expunge=True)
    assert list(compact.uids) == [3, 5, 9, 12, 40]  # the view copied the arrays
    assert list(fast.uids) == [3, 5, 9, 12, 40, 41]
