"""SEARCH a set at a time (handlers/msg_search_sets.py) gives what testing each message with
``matches`` gives (handlers/msg_search.py), for criteria trees of flag, \\Recent, sequence,
text and MODSEQ keys under NOT, OR and parentheses."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posthouse.imap.commands import SearchCommand
from posthouse.imap.connection import ImapConnection
from posthouse.imap.events import RawCommand
from posthouse.imap.handlers.msg_search import (
    Facts,
    Need,
    matches,
    need,
    seq_keys,
    text_queries,
    walk,
)
from posthouse.imap.handlers.msg_search_sets import FlagTable, ascending, select
from posthouse.imap.parser import parse_command
from posthouse.imap.search import ModSeqKey, SearchKey
from posthouse.store.models import UidFlags
from posthouse.wire.events import NEED_DATA

# Stored flag sets in mixed case: keys compare case-insensitively (RFC 9051 2.3.2).
FLAG_SETS = [
    frozenset(),
    frozenset({"\\Seen"}),
    frozenset({"\\seen", "\\Flagged"}),
    frozenset({"\\Answered", "$Label1"}),
    frozenset({"\\Seen", "$label1", "Work"}),
    frozenset({"\\Deleted", "\\Draft"}),
    frozenset({"WORK"}),
]
LEAVES = [
    "ALL", "SEEN", "UNSEEN", "FLAGGED", "UNFLAGGED", "ANSWERED", "UNANSWERED", "DELETED",
    "UNDELETED", "DRAFT", "UNDRAFT", "KEYWORD $LABEL1", "UNKEYWORD $label1", "KEYWORD work",
    "UNKEYWORD Nothing", "RECENT", "NEW", "OLD", "1:5", "7,9:*", "UID 3:12", "UID 20:*", "$",
    "FROM alice", "SUBJECT hello", 'BODY "x y"', "TEXT zz", "MODSEQ 5", "MODSEQ 12",
]


def _criteria(text: str) -> SearchKey:
    reader = ImapConnection(max_line=10_000, max_literal=10_000)
    reader.receive_data(b"t SEARCH " + text.encode() + b"\r\n")
    raw = reader.next_event()
    assert raw is not NEED_DATA
    assert isinstance(raw, RawCommand)
    cmd = parse_command(raw, utf8=True)
    assert isinstance(cmd, SearchCommand)
    return cmd.criteria


def _tree(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if depth >= 3 or roll < 0.4:
        return rng.choice(LEAVES)
    if roll < 0.6:
        return "NOT " + _tree(rng, depth + 1)
    if roll < 0.8:
        return f"OR {_tree(rng, depth + 1)} {_tree(rng, depth + 1)}"
    return "(" + " ".join(_tree(rng, depth + 1) for _ in range(rng.randint(1, 3))) + ")"


def _compare(text: str, seed: int) -> None:
    """Both evaluations over 30 candidate uids, some gone from the store meanwhile."""
    rng = random.Random(seed)
    key = _criteria(text)
    assert need(key) <= Need.FLAGS
    candidates = sorted(rng.sample(range(1, 60), 30))
    stored = [u for u in candidates if rng.random() > 0.1]  # the others were expunged
    extra = [60 + n for n in range(3)]  # in the store, not yet known to the session
    rows = [UidFlags(u, rng.randint(1, 15), rng.choice(FLAG_SETS)) for u in stored + extra]
    recent = {u for u in candidates if rng.random() < 0.3}
    sets = {k: {u for u in candidates if rng.random() < 0.5} for k in seq_keys(key)}
    found = {q: {u for u in candidates + extra if rng.random() < 0.5}
             for q in text_queries(key)}

    expected = []
    for row in rows:
        if row.uid in candidates:
            facts = Facts(row.uid, row.uid in recent, frozenset(f.lower() for f in row.flags),
                          row.modseq)
            if matches(key, facts, sets, found):
                expected.append(row.uid)

    table = FlagTable.from_rows(rows, set(candidates))
    assert table.uids == set(stored)
    chosen = select(key, table.uids, table=table, recent=recent, sets=sets, found=found)
    assert ascending(chosen, candidates) == expected, text
    if not any(isinstance(k, ModSeqKey) for k in walk(key)):  # grouped as the store does
        grouped: dict[frozenset[str], list[int]] = {}
        for row in reversed(rows):
            grouped.setdefault(row.flags, []).append(row.uid)
        table = FlagTable(list(grouped.items()), set(candidates))
        assert table.uids == set(stored)
        chosen = select(key, table.uids, table=table, recent=recent, sets=sets, found=found)
        assert ascending(chosen, candidates) == expected, text


@pytest.mark.parametrize("text", LEAVES)
def test_each_key_alone(text: str) -> None:
    for seed in range(5):
        _compare(text, seed)


@pytest.mark.parametrize(
    "text",
    ["NOT (SEEN FLAGGED)", "OR SEEN NOT SEEN", "OR (UID 3:12 UNSEEN) (NOT FROM alice)",
     "NEW MODSEQ 5", "NOT OR KEYWORD work 1:5", "(((NOT ALL)))", "UNSEEN UNSEEN SEEN"],
)
def test_combinations(text: str) -> None:
    for seed in range(5):
        _compare(text, seed)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_random_trees(seed: int) -> None:
    text = _tree(random.Random(seed))
    _compare(text, seed)


def test_without_the_table_only_view_and_set_keys_work() -> None:
    key = _criteria("OR RECENT UID 1:3")
    chosen = select(key, {1, 2, 5, 6}, table=None, recent={6}, sets={seq_keys(key)[0]: {1, 2}},
                    found={})
    assert sorted(chosen) == [1, 2, 6]
    with pytest.raises(ValueError, match="flag table"):
        select(_criteria("SEEN"), {1}, table=None, recent=set(), sets={}, found={})
    with pytest.raises(ValueError, match="per-message"):
        select(_criteria("LARGER 5"), {1}, table=None, recent=set(), sets={}, found={})


def test_ascending_keeps_the_candidate_order() -> None:
    order = list(range(1, 101))
    assert ascending({5, 3, 99}, order) == [3, 5, 99]  # few: sorted
    assert ascending(set(order[::2]), order) == order[::2]  # many: one filtered pass
