"""STORE semantics and the strict growth of uids and mod-sequences (RFC 7162)."""

from __future__ import annotations

from posthouse.store.api import Store
from posthouse.store.models import DeliveryTarget, FlagOp, UidFlags
from tests.backends.support import StoreRunner, mailbox_id, message, new_user


def test_store_add_remove_replace(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        for _ in range(3):
            await store.deliver(message(), [DeliveryTarget(bob.id)])
        changed, failed = await store.store_flags(
            inbox, [1, 2], FlagOp.ADD, frozenset({"\\SEEN", "$Label1"})
        )
        assert failed == []
        assert [(c.uid, c.flags) for c in changed] == [
            (1, frozenset({"\\Seen", "$Label1"})), (2, frozenset({"\\Seen", "$Label1"})),
        ]
        # Keywords are matched case-insensitively, the first spelling stays.
        changed, _ = await store.store_flags(inbox, [1], FlagOp.ADD, frozenset({"$label1"}))
        assert changed == []
        changed, _ = await store.store_flags(inbox, [1, 3], FlagOp.REMOVE, frozenset({"$LABEL1"}))
        assert [(c.uid, c.flags) for c in changed] == [(1, frozenset({"\\Seen"}))]
        changed, _ = await store.store_flags(
            inbox, [1, 2, 3], FlagOp.REPLACE, frozenset({"\\Flagged", "\\Recent"})
        )
        assert {c.uid for c in changed} == {1, 2, 3}
        assert all(c.flags == frozenset({"\\Flagged"}) for c in changed)
        changed, _ = await store.store_flags(inbox, [1, 2, 3], FlagOp.REPLACE, frozenset())
        assert len(changed) == 3
        assert all(m.flags == frozenset() for m in await store.uid_list(inbox))

    runner.run(body)


def test_unchanged_since(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        for _ in range(3):
            await store.deliver(message(), [DeliveryTarget(bob.id)])
        changed, _ = await store.store_flags(inbox, [2], FlagOp.ADD, frozenset({"\\Seen"}))
        bumped = changed[0].modseq
        # RFC 7162 3.1.3: messages modified after UNCHANGEDSINCE fail and stay as they are.
        changed, failed = await store.store_flags(
            inbox, [1, 2, 3], FlagOp.ADD, frozenset({"\\Answered"}), unchanged_since=bumped - 1
        )
        assert failed == [2]
        assert [c.uid for c in changed] == [1, 3]
        (two,) = await store.fetch_meta(inbox, [2])
        assert two.flags == frozenset({"\\Seen"})
        assert two.modseq == bumped
        changed, failed = await store.store_flags(
            inbox, [2], FlagOp.ADD, frozenset({"\\Answered"}), unchanged_since=bumped
        )
        assert failed == []
        assert [c.uid for c in changed] == [2]

    runner.run(body)


def test_unchanged_flags_keep_modseq(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        await store.deliver(message(), [DeliveryTarget(bob.id, flags=frozenset({"\\Seen"}))])
        before = await store.get_mailbox_by_id(inbox)
        changed, _ = await store.store_flags(inbox, [1], FlagOp.ADD, frozenset({"\\Seen"}))
        assert changed == []
        after = await store.get_mailbox_by_id(inbox)
        assert before is not None
        assert after is not None
        assert after.highestmodseq == before.highestmodseq

    runner.run(body)


def test_uid_and_modseq_strictly_increase(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        other = await mailbox_id(store, bob, "Archive")
        await store.deliver(message(), [DeliveryTarget(bob.id, "Archive")])
        highest = 0
        last_uid = 0

        async def check(new_uids: list[int]) -> None:
            nonlocal highest, last_uid
            box = await store.get_mailbox_by_id(inbox)
            assert box is not None
            assert box.highestmodseq > highest
            highest = box.highestmodseq
            listed: list[UidFlags] = await store.uid_list(inbox)
            assert [m.uid for m in listed] == sorted(m.uid for m in listed)
            assert max(m.modseq for m in listed) <= highest  # an expunge bumps it alone
            for uid in new_uids:
                assert uid > last_uid
                last_uid = uid
            assert box.uidnext == last_uid + 1

        await store.deliver(message(), [DeliveryTarget(bob.id)] * 2)
        await check([1, 2])
        _, uid = await store.append(inbox, message("appended"))
        await check([uid])
        pairs = await store.copy(other, [1], inbox)
        await check([new for _, new in pairs])
        changed, _ = await store.store_flags(inbox, [1], FlagOp.ADD, frozenset({"\\Seen"}))
        assert changed[0].modseq == highest + 1
        await check([])
        pairs = await store.move(other, [1], inbox)
        await check([new for _, new in pairs])
        await store.store_flags(inbox, [2], FlagOp.ADD, frozenset({"\\Deleted"}))
        await check([])
        await store.expunge(inbox)
        await check([])
        ((_, uid),) = await store.deliver(message(), [DeliveryTarget(bob.id)])
        await check([uid])

    runner.run(body)


def test_uid_list_keeps_every_flag_set_apart(runner: StoreRunner) -> None:
    """The compact uid list (uidlist.py) maps each message to its own flag set, also for
    keywords that look like the list's internal codes."""
    sets = [frozenset(), frozenset({"\\Seen"}), frozenset({"0"}), frozenset({"1"}),
            frozenset({"\\Seen", "$Work"}), frozenset(), frozenset({"\\Seen"})]

    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        for n, flags in enumerate(sets):
            await store.append(inbox, message(f"m{n}"), flags)
        listed = await store.uid_list(inbox)
        assert [row.flags for row in listed] == sets
        assert [row.uid for row in listed] == list(range(1, len(sets) + 1))
        assert listed == [UidFlags(m.uid, m.modseq, m.flags)
                          for m in await store.fetch_meta(inbox, list(range(1, 8)))]

    runner.run(body)


def test_tombstones_keep_the_content_they_held(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        for _ in range(3):
            await store.deliver(message(), [DeliveryTarget(bob.id)])
        metas = await store.fetch_meta(inbox, [1, 2, 3])
        before = (await store.get_mailbox_by_id(inbox)).highestmodseq  # type: ignore[union-attr]
        await store.delete_messages(inbox, [1, 3])
        gone = await store.expunged_content_since(inbox, before)
        assert gone.complete
        assert gone.entries == ((1, metas[0].blob_id), (3, metas[2].blob_id))
        assert (await store.expunged_content_since(inbox, before + 1)).entries == ()
        assert (await store.expunged_since(inbox, before)).uids == (1, 3)

    runner.run(body)
