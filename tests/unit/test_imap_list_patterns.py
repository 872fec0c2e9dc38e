"""LIST pattern matching (RFC 9051 6.3.9): ``*`` crosses levels, ``%`` does not."""

from __future__ import annotations

import time

import pytest

from posthouse.imap.handlers.patterns import Pattern, combine


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("*", "a/b", True), ("%", "a/b", False), ("%", "a", True), ("a/%", "a/b", True),
        ("a/%", "a/b/c", False), ("a*", "a/b/c", True), ("inbox", "INBOX", True),
        ("Inbox/%", "INBOX/x", True), ("%/%", "a/b", True), ("*/b", "a/b", True),
        ("a%", "ab/c", False), ("a%*%b", "axb", True), ("", "", True), ("x", "", False),
        ("inboxes", "INBOXES", False), ("a", "A", False),
    ],
)
def test_match(pattern: str, name: str, matches: bool) -> None:
    assert Pattern(pattern).matches(name) is matches


def test_hostile_pattern_is_linear() -> None:
    start = time.perf_counter()
    assert not Pattern("*a" * 400 + "b").matches("a" * 1000)
    assert time.perf_counter() - start < 2


def test_percent_at_end_and_reference() -> None:
    assert Pattern("a/%").ends_with_percent
    assert not Pattern("a/*").ends_with_percent
    assert combine("a/", "%") == "a/%"
    assert combine("", "x") == "x"
    assert combine("ref", "/abs") == "/abs"
