"""FETCH reads message bytes per batch in groups of bounded total size."""

from __future__ import annotations

from datetime import UTC, datetime

from posthouse.imap.handlers.fetch import BLOB_GROUP_BYTES, blob_groups
from posthouse.store.models import StoredMessage


def _metas(*sizes: int) -> list[StoredMessage]:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    return [StoredMessage(uid, 1, frozenset(), when, size, f"b{uid}")
            for uid, size in enumerate(sizes, 1)]


def _uids(sizes: tuple[int, ...]) -> list[list[int]]:
    return [[m.uid for m in group] for group in blob_groups(_metas(*sizes))]


def test_small_messages_are_one_group() -> None:
    assert _uids((100,) * 50) == [list(range(1, 51))]
    assert _uids(()) == []


def test_groups_stay_under_the_limit_but_hold_at_least_one() -> None:
    half = BLOB_GROUP_BYTES // 2
    assert _uids((half, half, 1, BLOB_GROUP_BYTES * 3, 5)) == [[1, 2], [3], [4], [5]]
    assert _uids((BLOB_GROUP_BYTES + 1,)) == [[1]]
