"""SEARCH BODY / TEXT / header: case-insensitive substrings (RFC 9051 6.4.4)."""

from __future__ import annotations

import pytest

from posthouse.store.api import Store
from posthouse.store.errors import NoSuchMailbox
from posthouse.store.models import DeliveryTarget
from tests.backends.support import StoreRunner, mailbox_id, message, new_user

MESSAGES = [
    message("The quick brown fox jumps.", subject="Animals", sender="Alice <alice@a.example>"),
    message("Grüße aus Köln, schöne Straße!", subject="Ärger im Büro",
            sender="Jürgen <j@b.example>"),
    message("nothing to see", subject="Re: quick question", sender="bob@c.example"),
    message("日本語のテキスト", subject="件名", sender="x@d.example"),
]

CASES = [
    ("body", "QUICK", {1}),
    ("body", "ck br", {1}),
    ("body", "fox", {1}),
    ("body", "GRÜSSE", set()),
    ("body", "grüße", {2}),
    ("body", "STRASSE", set()),
    ("body", "KÖLN", {2}),
    ("body", "öl", {2}),
    ("body", "x", {1}),
    ("body", "O", {1, 3}),
    ("body", "テキ", {4}),
    ("body", "本語のテ", {4}),
    ("body", "question", set()),
    ("subject", "QUICK", {3}),
    ("subject", "ärger", {2}),
    ("subject", "im bü", {2}),
    ("subject", "件", {4}),
    ("from", "ALICE@A.EX", {1}),
    ("from", "jürgen", {2}),
    ("from", "example", {1, 2, 3, 4}),
    ("to", "bob@", {1, 2, 3, 4}),
    ("cc", "bob", set()),
    ("x-unknown", "a", set()),
    ("text", "quick", {1, 3}),
    ("text", "SUBJECT: anim", {1}),  # TEXT covers the header lines, names included
    ("text", "animals", {1}),
    ("text", "see", {3}),
    ("body", "", {1, 2, 3, 4}),
    ("body", '"quoted" OR fox', set()),
]


# "pending": searched before the full-text index has them; "indexed": through the index;
# "mixed": half of them in the index. The answers must not depend on it.
STATES = ("pending", "indexed", "mixed")


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize(("field", "needle", "expected"), CASES)
def test_search_text(
    runner: StoreRunner, field: str, needle: str, expected: set[int], state: str
) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        for n, msg in enumerate(MESSAGES):
            await store.deliver(msg, [DeliveryTarget(bob.id), DeliveryTarget(bob.id, "Junk")])
            if state == "indexed" or (state == "mixed" and n == 1):
                await store.catch_up_index()
        assert await store.search_text(inbox, needle, field=field) == expected

    runner.run(body, auto_index=False)


@pytest.mark.parametrize("indexed", [False, True])
def test_search_scoped_to_mailbox_and_live_messages(runner: StoreRunner, indexed: bool) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        carol = await new_user(store, "carol")
        inbox = await mailbox_id(store, bob)
        await store.deliver(MESSAGES[0], [DeliveryTarget(bob.id), DeliveryTarget(carol.id)])
        await store.deliver(MESSAGES[0], [DeliveryTarget(bob.id)])
        await store.deliver(MESSAGES[1], [DeliveryTarget(carol.id)])
        if indexed:
            await store.catch_up_index()
        assert await store.search_text(inbox, "fox", field="body") == {1, 2}
        assert await store.search_text(inbox, "köln", field="body") == set()
        await store.delete_messages(inbox, [1])
        assert await store.search_text(inbox, "fox", field="body") == {2}
        with pytest.raises(NoSuchMailbox):
            await store.search_text(inbox + 999, "fox", field="body")

    runner.run(body, auto_index=False)
