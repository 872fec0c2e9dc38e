"""Text search decided inside SQLite for ASCII needles and values (store/sqlite/search.py
``_contains``) answers as Python's ``needle in value.lower()``: non-ASCII values whose
lower case holds ASCII letters (the Kelvin sign, dotted capital I) still match, short
needles (no trigram index) and long ones, pending and indexed messages alike."""

from __future__ import annotations

import pytest

from posthouse.store.api import Store
from posthouse.store.models import DeliveryTarget
from tests.backends.support import StoreRunner, mailbox_id, message, new_user

MESSAGES = [
    message("plain ascii body", subject="Temperature 300 \u212a", sender="Kim <kim@a.example>"),
    message("\u0130stanbul notes", subject="\u0130stanbul", sender="ISTANBUL <i@b.example>"),
    message("MIXED Case Body", subject="Plain SUBJECT", sender="r@c.example"),
]

CASES = [
    ("subject", "k", {1}),  # KELVIN SIGN lower-cases to an ASCII k
    ("subject", "300 k", {1}),
    ("subject", "i", {2, 3}),  # DOTTED CAPITAL I lower-cases to i + a combining dot
    ("subject", "ist", set()),  # ... so "i" + "st" is not there
    ("subject", "plain subject", {3}),
    ("subject", "", {1, 2, 3}),
    ("from", "r@", {3}),
    ("from", "KIM@", {1}),
    ("from", "istanbul", {2}),
    ("body", "mixed case", {3}),
    ("body", "i", {1, 2, 3}),
    ("body", "\u0130", {2}),  # lower-cased on both sides: i + combining dot
    ("text", "300 k", {1}),
    ("text", "ed ca", {3}),
]


@pytest.mark.parametrize("indexed", [False, True])
@pytest.mark.parametrize(("field", "needle", "expected"), CASES)
def test_ascii_fast_test_agrees_with_python(
    runner: StoreRunner, field: str, needle: str, expected: set[int], indexed: bool
) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        for msg in MESSAGES:
            await store.deliver(msg, [DeliveryTarget(bob.id)])
        if indexed:
            await store.catch_up_index()
        assert await store.search_text(inbox, needle, field=field) == expected

    runner.run(body, auto_index=False)
