"""Mailbox name normalization (posthouse.store.names): examples and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posthouse.store.errors import InvalidMailboxName
from posthouse.store.names import (
    MAX_LEVELS,
    MAX_NAME_BYTES,
    is_inferior,
    normalize_mailbox_name,
    parent_names,
    renamed,
)

GOOD = [
    ("INBOX", "INBOX"),
    ("inbox", "INBOX"),
    ("InBoX/Sub", "INBOX/Sub"),
    ("inbox.old", "inbox.old"),
    ("inboxes", "inboxes"),
    ("\u0131nbox", "\u0131nbox"),  # dotless i: upper() gives INBOX, yet it is another name
    ("Sent", "Sent"),
    ("a/inbox", "a/inbox"),
    ("Entwürfe/日本語", "Entwürfe/日本語"),
    ("a.b/..c/d..", "a.b/..c/d.."),
    ("with space", "with space"),
    ("é" * 500, "é" * 500),
    ("/".join("a" * MAX_LEVELS), "/".join("a" * MAX_LEVELS)),
]
BAD = [
    "", "/", "a/", "/a", "a//b", ".", "..", "../x", "a/../b", "a/./b", "x\x00", "\t",
    "a\r\nb", "\x7f", "\x9f", "a*", "%", "é" * 501, "/".join("a" * (MAX_LEVELS + 1)),
    "\ud800",
]

# Characters that matter: delimiters, dots, wildcards, controls, INBOX letters, non-ASCII.
ALPHABET = st.sampled_from(list("/.*%\x00\x1f\x7f\x85 aINBOXinbox\u0131é日")) | st.characters()


@pytest.mark.parametrize(("name", "expected"), GOOD)
def test_good_names(name: str, expected: str) -> None:
    assert normalize_mailbox_name(name) == expected


@pytest.mark.parametrize("name", BAD)
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidMailboxName):
        normalize_mailbox_name(name)


@given(st.text(ALPHABET, max_size=40))
def test_any_string_is_normalized_or_rejected(name: str) -> None:
    try:
        normalized = normalize_mailbox_name(name)
    except InvalidMailboxName:
        return
    assert normalize_mailbox_name(normalized) == normalized
    assert len(normalized.encode()) <= MAX_NAME_BYTES
    components = normalized.split("/")
    assert len(components) <= MAX_LEVELS
    assert all(c not in ("", ".", "..") for c in components)
    assert not any(ch in normalized for ch in "*%")
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in normalized)
    assert normalized.lower() == name.lower() or components[0] == "INBOX"


@given(st.text(max_size=1200))
def test_arbitrary_unicode_never_crashes(name: str) -> None:
    try:
        normalized = normalize_mailbox_name(name)
    except InvalidMailboxName:
        return
    assert normalize_mailbox_name(normalized) == normalized


def test_hierarchy_helpers() -> None:
    assert parent_names("a/b/c") == ["a", "a/b"]
    assert parent_names("a") == []
    assert is_inferior("a/b", "a")
    assert not is_inferior("ab", "a")
    assert not is_inferior("a", "a")
    assert renamed("a/b", "a", "x/y") == "x/y/b"
    assert renamed("a", "a", "z") == "z"
    with pytest.raises(ValueError, match="not"):
        renamed("ab", "a", "z")
