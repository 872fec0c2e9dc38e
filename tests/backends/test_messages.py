"""Deliver, append, fetch, copy, move, expunge and delete."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from posthouse.store.api import Store
from posthouse.store.blobs import INLINE_LIMIT
from posthouse.store.errors import NoSuchMailbox, NotFound
from posthouse.store.models import (
    DeliveryTarget,
    FlagOp,
    OutboundEnvelope,
    OutboundRecipient,
)
from tests.backends.support import CET, StoreRunner, mailbox_id, message, new_user

FILE_SIZED = INLINE_LIMIT + 6000  # larger than the inline limit: stored as a file


def test_deliver_to_several_targets(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store, "bob")
        carol = await new_user(store, "carol")
        msg = message("to both")
        result = await store.deliver(msg, [
            DeliveryTarget(bob.id),
            DeliveryTarget(carol.id, "Junk", frozenset({"$Junk", "\\Recent"})),
            DeliveryTarget(bob.id, "inbox"),
        ])
        bob_inbox = await mailbox_id(store, bob)
        carol_junk = await mailbox_id(store, carol, "Junk")
        assert result == [(bob_inbox, 1), (carol_junk, 1), (bob_inbox, 2)]
        (junk,) = await store.fetch_meta(carol_junk, [1])
        assert junk.flags == frozenset({"$Junk"})  # \Recent is never stored
        assert junk.size == len(msg.data)
        assert junk.internaldate == msg.internaldate
        assert junk.internaldate.utcoffset() == CET.utcoffset(None)
        assert await store.read_blob(junk.blob_id) == msg.data
        metas = await store.fetch_meta(bob_inbox, [2, 1, 99])
        assert [m.uid for m in metas] == [1, 2]
        assert {m.blob_id for m in metas} == {junk.blob_id}

    runner.run(body)


def test_deliver_is_all_or_nothing(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        for target in ("Nope", "a//b"):
            with pytest.raises(NoSuchMailbox):
                await store.deliver(
                    message(), [DeliveryTarget(bob.id), DeliveryTarget(bob.id, target)]
                )
        with pytest.raises(NoSuchMailbox):
            await store.deliver(message(), [DeliveryTarget(bob.id + 999)])
        assert await store.uid_list(inbox) == []
        assert (await store.mailbox_counts(inbox)).uidnext == 1
        assert await store.quota_usage(bob.id) == (0, 0)

    runner.run(body)


def test_fetch_meta_with_summary(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        msg = message("Grüße aus Köln", subject="Straße")
        ((inbox, uid),) = await store.deliver(msg, [DeliveryTarget(bob.id)])
        (plain,) = await store.fetch_meta(inbox, [uid])
        assert plain.summary is None
        (full,) = await store.fetch_meta(inbox, [uid], with_summary=True)
        assert full.summary == msg.summary

    runner.run(body)


def test_append_returns_uidvalidity_and_uid(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        drafts = await store.get_mailbox(bob.id, "Drafts")
        assert drafts is not None
        date = datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)
        first = await store.append(drafts.id, message(date=date), frozenset({"\\draft", "Work"}))
        second = await store.append(drafts.id, message("2"), origin="session-1")
        assert first == (drafts.uidvalidity, 1)
        assert second == (drafts.uidvalidity, 2)
        (meta,) = await store.fetch_meta(drafts.id, [1])
        assert meta.flags == frozenset({"\\Draft", "Work"})
        assert meta.internaldate == date
        with pytest.raises(NoSuchMailbox):
            await store.append(drafts.id + 999, message())

    runner.run(body)


def test_read_blob_unknown(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        with pytest.raises(NotFound):
            await store.read_blob("0" * 64)

    runner.run(body)


def test_read_blobs_in_one_call(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        sent = [message("small one"), message("big one", pad=FILE_SIZED), message("small two")]
        for msg in sent:
            await store.deliver(msg, [DeliveryTarget(bob.id)])
        metas = await store.fetch_meta(inbox, [1, 2, 3])
        ids = [m.blob_id for m in metas]
        unknown = "0" * 64
        found = await store.read_blobs([ids[2], unknown, ids[0], ids[1], ids[0]])
        assert found == {blob_id: msg.data for blob_id, msg in zip(ids, sent, strict=True)}
        assert [await store.read_blob(i) for i in ids] == [found[i] for i in ids]
        assert await store.read_blobs([]) == {}
        assert await store.read_blobs([unknown]) == {}

    runner.run(body)


def test_copy_and_move(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        archive = await mailbox_id(store, bob, "Archive")
        for i in range(5):
            await store.deliver(message(f"m{i}"), [DeliveryTarget(bob.id)])
        await store.store_flags(inbox, [3], FlagOp.ADD, frozenset({"\\Flagged"}))
        pairs = await store.copy(inbox, [4, 3, 42], archive)
        assert pairs == [(3, 1), (4, 2)]
        copied = await store.fetch_meta(archive, [1, 2])
        assert copied[0].flags == frozenset({"\\Flagged"})
        assert len(await store.uid_list(inbox)) == 5
        assert await store.quota_usage(bob.id) == (
            sum(len(message(f"m{i}").data) for i in (0, 1, 2, 3, 4, 2, 3)), 7,
        )
        moved = await store.move(inbox, [5, 1], archive)
        assert moved == [(1, 3), (5, 4)]
        assert [m.uid for m in await store.uid_list(inbox)] == [2, 3, 4]
        assert [m.uid for m in await store.uid_list(archive)] == [1, 2, 3, 4]
        (moved_meta,) = await store.fetch_meta(archive, [4])
        assert await store.read_blob(moved_meta.blob_id) == message("m4").data
        assert (await store.quota_usage(bob.id))[1] == 7
        assert await store.copy(inbox, [], archive) == []
        with pytest.raises(NoSuchMailbox):
            await store.copy(inbox, [2], archive + 999)

    runner.run(body)


def test_expunge_and_delete_messages(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        for i in range(6):
            await store.deliver(message(f"m{i}"), [DeliveryTarget(bob.id)])
        await store.store_flags(inbox, [1, 2, 5], FlagOp.ADD, frozenset({"\\deleted"}))
        assert await store.expunge(inbox, [2, 3, 5]) == [2, 5]  # UID EXPUNGE
        assert await store.expunge(inbox) == [1]
        assert await store.expunge(inbox) == []
        assert await store.delete_messages(inbox, [6, 3, 77]) == [3, 6]
        assert [m.uid for m in await store.uid_list(inbox)] == [4]
        assert await store.quota_usage(bob.id) == (len(message("m3").data), 1)
        # uids are never reused
        ((_, uid),) = await store.deliver(message(), [DeliveryTarget(bob.id)])
        assert uid == 7

    runner.run(body)


def test_uids_survive_reopen(runner: StoreRunner) -> None:
    async def first(store: Store) -> int:
        bob = await new_user(store)
        for _ in range(3):
            await store.deliver(message(), [DeliveryTarget(bob.id)])
        await store.delete_messages(await mailbox_id(store, bob), [3])
        return bob.id

    user_id = runner.run(first)

    async def second(store: Store) -> None:
        ((_, uid),) = await store.deliver(message(), [DeliveryTarget(user_id)])
        assert uid == 4

    runner.run(second)


def test_deliver_with_outbound_queues_in_same_transaction(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        envelope = OutboundEnvelope(
            mail_from=bob.address,
            recipients=(
                OutboundRecipient("x@remote.example", ("SUCCESS", "FAILURE"), "rfc822;x@r"),
            ),
            envid="ENV1",
            sender_user_id=bob.id,
        )
        msg = message("copy to Sent and out")
        result = await store.deliver(msg, [DeliveryTarget(bob.id, "Sent")], outbound=envelope)
        sent = await mailbox_id(store, bob, "Sent")
        assert result == [(sent, 1)]
        (queued,) = await store.list_queue()
        assert queued.envelope == envelope
        (meta,) = await store.fetch_meta(sent, [1])
        assert queued.blob_id == meta.blob_id
        assert queued.size == len(msg.data)
        await store.delete_messages(sent, [1])
        assert await store.read_blob(queued.blob_id) == msg.data  # the queue still holds it
        with pytest.raises(NoSuchMailbox):
            await store.deliver(message("x"), [DeliveryTarget(bob.id, "Nope")], outbound=envelope)
        assert len(await store.list_queue()) == 1

    runner.run(body)


def test_deliver_with_no_local_target_only_queues(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        envelope = OutboundEnvelope("a@example.org", (OutboundRecipient("x@remote.example"),))
        msg = message("relay only", pad=FILE_SIZED)
        assert await store.deliver(msg, [], outbound=envelope) == []
        (queued,) = await store.list_queue()
        assert await store.read_blob(queued.blob_id) == msg.data
        assert await store.deliver(message(), []) == []  # nothing to do, nothing stored
        assert len(await store.list_queue()) == 1

    runner.run(body)
