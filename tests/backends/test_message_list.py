"""``message_list`` (a mailbox's metadata with a few header fields, one read) and
``read_summaries`` (cached parses by content), on every backend."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from posthouse.message.summary_model import MessageSummary
from posthouse.store.api import Store
from posthouse.store.errors import NoSuchMailbox
from posthouse.store.models import DeliveryTarget, FlagOp, NewMessage
from tests.backends.support import StoreRunner, mailbox_id, message, new_user

FIELDS = ("references", "in-reply-to", "message-id")


def _threaded(body: str, headers: dict[str, str]) -> NewMessage:
    """A message whose summary holds ``headers`` (besides those of ``message``)."""
    plain = message(body)
    assert plain.summary is not None
    summary = dataclasses.replace(plain.summary, headers={**plain.summary.headers, **headers})
    return dataclasses.replace(plain, summary=summary)


def test_message_list_matches_fetch_meta(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        reply = _threaded("a reply", {"references": "<root@x> <mid@x>",
                                      "in-reply-to": "<mid@x>",
                                      "message-id": "<Grüße-1@x>"})
        first = _threaded("first", {"message-id": "<root@x>"})
        await store.deliver(first, [DeliveryTarget(bob.id)])
        await store.deliver(reply, [DeliveryTarget(bob.id, flags=frozenset({"\\Seen"}))])
        await store.deliver(message("no ids"), [DeliveryTarget(bob.id)])
        parsed_here = NewMessage(  # no summary given: the store parses it itself
            b"Message-ID: <own@x>\r\nIn-Reply-To: <first@x>\r\nSubject: s\r\n\r\nhi\r\n",
            None, datetime(2024, 6, 1, 8, 0, tzinfo=UTC))
        await store.deliver(parsed_here, [DeliveryTarget(bob.id)])
        await store.store_flags(inbox, [3], FlagOp.ADD, frozenset({"$Work", "\\Flagged"}))

        listed = await store.message_list(inbox, FIELDS)
        metas = await store.fetch_meta(inbox, [1, 2, 3, 4], with_summary=True)
        assert [e.uid for e in listed] == [1, 2, 3, 4]
        for entry, meta in zip(listed, metas, strict=True):
            assert (entry.uid, entry.modseq, entry.flags, entry.internaldate, entry.size,
                    entry.blob_id) == (meta.uid, meta.modseq, meta.flags, meta.internaldate,
                                       meta.size, meta.blob_id)
            assert meta.summary is not None
            assert entry.fields == tuple(meta.summary.headers.get(f) for f in FIELDS)
        assert listed[1].fields == ("<root@x> <mid@x>", "<mid@x>", "<Grüße-1@x>")
        assert listed[2].fields == (None, None, None)
        assert listed[2].flags == frozenset({"$Work", "\\Flagged"})
        assert listed[3].fields == (None, "<first@x>", "<own@x>")
        assert [e.fields for e in await store.message_list(inbox)] == [()] * 4

    runner.run(body)


def test_message_list_of_empty_and_unknown_mailboxes(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        assert await store.message_list(await mailbox_id(store, bob, "Trash"), FIELDS) == []
        with pytest.raises(NoSuchMailbox):
            await store.message_list(999_999, FIELDS)
        with pytest.raises(ValueError, match="not a header field name"):
            await store.message_list(await mailbox_id(store, bob), ['x"y'])

    runner.run(body)


def test_read_summaries_by_content(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        one, two = message("one"), message("two", subject="Straße")
        ((inbox, uid1),) = await store.deliver(one, [DeliveryTarget(bob.id)])
        ((_, uid2),) = await store.deliver(two, [DeliveryTarget(bob.id)])
        blobs = {m.uid: m.blob_id for m in await store.fetch_meta(inbox, [uid1, uid2])}
        found = await store.read_summaries([blobs[uid1], blobs[uid2], "0" * 64])
        assert found == {blobs[uid1]: one.summary, blobs[uid2]: two.summary}
        assert all(isinstance(s, MessageSummary) for s in found.values())
        assert await store.read_summaries([]) == {}

    runner.run(body)
