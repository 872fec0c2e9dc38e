"""The regular-expression fast paths give exactly what the full parsers give.

``smtp.grammar.parse_path`` and ``message.address.parse_addresses`` answer the usual forms
(``<user@example.org>``, ``Name <user@example.org>``) with one regular expression; every
other input goes through the hand-written parser. Here both ways are compared on generated
input, with the fast path switched off for the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posthouse.message import address
from posthouse.smtp import grammar
from posthouse.smtp.grammar import AddressError

ATOM = st.text("ab9-_+=!#$%&'*/?^`{|}~", min_size=1, max_size=6)
DOTTED = st.lists(ATOM, min_size=1, max_size=3).map(".".join)
LABEL = st.text("ab9-", min_size=1, max_size=5)
DOMAIN = st.lists(LABEL, min_size=1, max_size=3).map(".".join)
NOISE = st.text(" .@<>\"\\()[]:;,\té\r\n", max_size=3)


@contextmanager
def without(module: Any, name: str) -> Iterator[None]:
    """Switch a fast path off: the full parser answers everything."""
    saved = getattr(module, name)
    setattr(module, name, lambda *args: None)
    try:
        yield
    finally:
        setattr(module, name, saved)


def outcome(parse: Callable[[], object]) -> object:
    try:
        return parse()
    except AddressError as exc:
        return (exc.problem, str(exc))


@st.composite
def paths(draw: st.DrawFn) -> str:
    local, domain = draw(DOTTED), draw(DOMAIN)
    noise = draw(NOISE)
    where = draw(st.integers(0, 4))
    parts = ["<", local, "@", domain, ">"]
    parts.insert(where, noise)
    return "".join(parts) + draw(st.sampled_from(["", " SIZE=10", "x"]))


@settings(max_examples=500)
@given(text=paths(), null_ok=st.booleans(), postmaster_ok=st.booleans())
def test_parse_path_fast_path_agrees(text: str, null_ok: bool, postmaster_ok: bool) -> None:
    kw = {"null_ok": null_ok, "postmaster_ok": postmaster_ok}
    fast = outcome(lambda: grammar.parse_path(text, **kw))
    with without(grammar, "_simple_path"):
        assert outcome(lambda: grammar.parse_path(text, **kw)) == fast


@pytest.mark.parametrize("text", [
    "<" + "l" * 64 + "@example.org>", "<" + "l" * 65 + "@example.org>",
    "<u@" + "d" * 63 + ".org>", "<u@" + "d" * 64 + ".org>",
    "<u@" + ".".join(["d" * 63] * 4) + ">", "<" + "l" * 64 + "@" + ".".join(["d" * 62] * 3) + ">",
    "<>", "<Postmaster>", "<@route.example:u@example.org>", '<"q"@example.org>',
])
def test_parse_path_limits_and_special_forms(text: str) -> None:
    fast = outcome(lambda: grammar.parse_path(text, null_ok=True, postmaster_ok=True))
    with without(grammar, "_simple_path"):
        slow = outcome(lambda: grammar.parse_path(text, null_ok=True, postmaster_ok=True))
    assert fast == slow


@st.composite
def address_texts(draw: st.DrawFn) -> str:
    spec = f"{draw(DOTTED)}@{draw(DOTTED)}"
    words = draw(st.lists(ATOM, max_size=3))
    gap = draw(st.sampled_from([" ", "  ", "\t", " \t"]))
    name = gap.join(words) + (gap if words else "")
    text = draw(st.sampled_from([spec, f"<{spec}>", f"{name}<{spec}>"]))
    if draw(st.booleans()):
        where = draw(st.integers(0, len(text)))
        text = text[:where] + draw(NOISE) + text[where:]
    return text


@settings(max_examples=500)
@given(text=address_texts())
def test_parse_addresses_fast_path_agrees(text: str) -> None:
    fast = address.parse_addresses(text)
    with without(address, "_simple_address"):
        assert address.parse_addresses(text) == fast
