"""SEARCH evaluation and ESEARCH shapes (handlers/msg_search.py), without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from posthouse.imap.commands import SearchCommand
from posthouse.imap.connection import ImapConnection
from posthouse.imap.events import RawCommand
from posthouse.imap.handlers.msg_search import (
    Facts,
    Need,
    esearch_response,
    matches,
    narrow,
    need,
    saved_uids,
    search_response,
    seq_keys,
    text_queries,
)
from posthouse.imap.parser import parse_command
from posthouse.imap.responses import encode_response
from posthouse.imap.search import SearchKey, SeqKey
from posthouse.wire.events import NEED_DATA

PLUS2 = timezone(timedelta(hours=2))


def _criteria(text: str) -> SearchKey:
    reader = ImapConnection(max_line=10_000, max_literal=10_000)
    reader.receive_data(b"t SEARCH " + text.encode() + b"\r\n")
    raw = reader.next_event()
    assert raw is not NEED_DATA
    assert isinstance(raw, RawCommand)
    cmd = parse_command(raw, utf8=True)
    assert isinstance(cmd, SearchCommand)
    return cmd.criteria


FACTS = Facts(
    uid=10, recent=True, flags=frozenset({"\\seen", "$label1"}), modseq=5, size=2000,
    internaldate=datetime(2025, 4, 7, 23, 30, tzinfo=PLUS2),
    sent_date=datetime(2025, 4, 6, 1, 0, tzinfo=UTC),
)


def _match(text: str, facts: Facts = FACTS, found: dict[str, set[int]] | None = None) -> bool:
    key = _criteria(text)
    sets = {k: {10} if k.uid or str(k.sequence) in ("1", "$") else set() for k in seq_keys(key)}
    hits = found or {}
    texts = {q: hits.get(q.value, set()) for q in text_queries(key)}
    return matches(key, facts, sets, texts)


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ("ALL", True),
        ("SEEN", True), ("UNSEEN", False), ("FLAGGED", False), ("UNFLAGGED", True),
        ("KEYWORD $Label1", True), ("UNKEYWORD $label1", False),
        ("RECENT", True), ("NEW", False), ("OLD", False),
        ("LARGER 1999", True), ("LARGER 2000", False), ("SMALLER 2001", True),
        ("SMALLER 2000", False),
        # internal date in its own zone: 7 April (+0200), though 21:30 UTC is the same day
        ("ON 7-Apr-2025", True), ("BEFORE 7-Apr-2025", False), ("BEFORE 8-Apr-2025", True),
        ("SINCE 7-Apr-2025", True), ("SINCE 8-Apr-2025", False),
        ("SENTON 6-Apr-2025", True), ("SENTBEFORE 6-Apr-2025", False),
        ("SENTSINCE 6-Apr-2025", True), ("SENTSINCE 7-Apr-2025", False),
        ("1", True), ("2", False), ("UID 10:11", True), ("$", True),
        ("NOT SEEN", False), ("OR FLAGGED SEEN", True), ("(SEEN LARGER 5000)", False),
        ("OR (FLAGGED) (NOT (SMALLER 10))", True),
        ("MODSEQ 5", True), ("MODSEQ 6", False),
        ('SUBJECT "hello"', True), ("BODY nope", False), ('HEADER X-Thing ""', False),
    ],
)
def test_keys(criteria: str, expected: bool) -> None:
    assert _match(criteria, found={"hello": {10}}) is expected


def test_sent_keys_fall_back_to_internal_date() -> None:
    no_date = Facts(uid=10, internaldate=datetime(2025, 4, 7, 12, tzinfo=UTC))
    assert _match("SENTON 7-Apr-2025", no_date)
    assert not _match("ON 7-Apr-2025", Facts(uid=10))


@pytest.mark.parametrize(
    ("criteria", "level"),
    [
        ("ALL", Need.NOTHING), ("1:5 RECENT", Need.NOTHING), ("BODY x", Need.NOTHING),
        ("SEEN", Need.FLAGS), ("NOT KEYWORD a", Need.FLAGS), ("MODSEQ 4", Need.FLAGS),
        ("OR SEEN LARGER 5", Need.META), ("SINCE 1-Jan-2020", Need.META),
        ("SEEN (SENTON 1-Jan-2020)", Need.SUMMARY),
    ],
)
def test_need(criteria: str, level: Need) -> None:
    assert need(_criteria(criteria)) is level


def test_narrow_uses_top_level_sets_only() -> None:
    key = _criteria("UID 2:3 SEEN")
    sets = {k: {2, 3} for k in seq_keys(key)}
    assert narrow(key, [1, 2, 3, 4], sets) == [2, 3]
    key = _criteria("OR UID 2 SEEN")
    sets = {k: {2} for k in seq_keys(key)}
    assert narrow(key, [1, 2, 3, 4], sets) == [1, 2, 3, 4]
    assert isinstance(seq_keys(_criteria("$"))[0], SeqKey)


def test_text_queries_are_distinct() -> None:
    key = _criteria('OR FROM a FROM a BODY "über" TEXT x')
    assert [q.value for q in text_queries(key)] == ["a", "über", "x"]


def test_saved_uids() -> None:
    result = [3, 5, 9]
    assert saved_uids(result, frozenset({"SAVE"})) == result
    assert saved_uids(result, frozenset({"SAVE", "MIN"})) == [3]
    assert saved_uids(result, frozenset({"SAVE", "MIN", "MAX"})) == [3, 9]
    assert saved_uids(result, frozenset({"SAVE", "MIN", "COUNT"})) == result
    assert saved_uids([], frozenset({"SAVE", "MAX"})) == []


def test_responses() -> None:
    def wire(resp: object) -> bytes:
        return encode_response(resp)  # type: ignore[arg-type]

    assert wire(search_response([5, 2])) == b"* SEARCH 2 5\r\n"
    assert wire(search_response([])) == b"* SEARCH\r\n"
    every = frozenset({"MIN", "MAX", "ALL", "COUNT"})
    assert wire(esearch_response("a1", [1, 2, 3, 7], every, uid=True)) == (
        b'* ESEARCH (TAG "a1") UID MIN 1 MAX 7 ALL 1:3,7 COUNT 4\r\n'
    )
    assert wire(esearch_response("a2", [], every, uid=False)) == (
        b'* ESEARCH (TAG "a2") COUNT 0\r\n'
    )
    assert wire(esearch_response("a3", [], frozenset({"ALL"}), uid=False)) == (
        b'* ESEARCH (TAG "a3")\r\n'
    )
    assert esearch_response("a4", [1], frozenset({"SAVE"}), uid=False) is None
    assert wire(esearch_response("a5", [4], frozenset({"SAVE", "COUNT"}), uid=False)) == (
        b'* ESEARCH (TAG "a5") COUNT 1\r\n'
    )
