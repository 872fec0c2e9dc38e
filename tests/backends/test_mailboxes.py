"""Mailbox semantics: create, delete, rename, subscriptions, names, counts, \\Recent."""

from __future__ import annotations

import pytest

from posthouse.store.api import Store
from posthouse.store.errors import (
    InvalidMailboxName,
    MailboxExists,
    MailboxNotDeletable,
    NoSuchMailbox,
)
from posthouse.store.models import INBOX, DeliveryTarget, FlagOp, Mailbox
from tests.backends.support import StoreRunner, mailbox_id, message, new_user

BAD_NAMES = [
    "", "/", "a/", "/a", "a//b", "../x", "a/../b", "./a", "a/.", "x\x00y", "tab\there",
    "new\nline", "del\x7f", "c1\x85", "star*", "per%cent", "a" * 1001, "/".join("a" * 31),
]


def _names(boxes: list[Mailbox]) -> list[str]:
    return [box.name for box in boxes]


def test_create_and_get(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        user = await new_user(store)
        box = await store.create_mailbox(user.id, "Projects/2024", special_use="\\Flagged")
        assert box.name == "Projects/2024"
        assert box.special_use == "\\Flagged"
        assert box.uidnext == 1
        assert not box.subscribed
        assert await store.get_mailbox(user.id, "Projects/2024") == box
        assert await store.get_mailbox_by_id(box.id) == box
        # RFC 9051 6.3.4: superior names are created as needed.
        assert await store.get_mailbox(user.id, "Projects") is not None
        with pytest.raises(MailboxExists):
            await store.create_mailbox(user.id, "Projects/2024")
        with pytest.raises(MailboxExists):
            await store.create_mailbox(user.id, "inbox")
        assert await store.get_mailbox(user.id, "Nope") is None
        assert await store.get_mailbox(user.id, "a//b") is None

    runner.run(body)


def test_non_ascii_names_and_case(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        user = await new_user(store)
        await store.create_mailbox(user.id, "Entwürfe/日本")
        await store.create_mailbox(user.id, "entwürfe")
        names = _names(await store.list_mailboxes(user.id))
        assert "Entwürfe/日本" in names
        assert "entwürfe" in names
        assert "Entwürfe" in names
        inbox = await store.get_mailbox(user.id, "iNbOx")
        assert inbox is not None
        assert inbox.name == INBOX
        child = await store.create_mailbox(user.id, "inbox/Sub")
        assert child.name == "INBOX/Sub"

    runner.run(body)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names_rejected(runner: StoreRunner, name: str) -> None:
    async def body(store: Store) -> None:
        user = await new_user(store)
        with pytest.raises(InvalidMailboxName):
            await store.create_mailbox(user.id, name)
        with pytest.raises(InvalidMailboxName):
            await store.set_subscribed(user.id, name, True)
        with pytest.raises(InvalidMailboxName):
            await store.rename_mailbox(user.id, "Drafts", name)

    runner.run(body)


def test_delete_keeps_children_and_subscription(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        user = await new_user(store)
        parent = await store.create_mailbox(user.id, "a")
        await store.create_mailbox(user.id, "a/b")
        await store.set_subscribed(user.id, "a", True)
        await store.append(parent.id, message())
        await store.delete_mailbox(user.id, "a")
        names = _names(await store.list_mailboxes(user.id))
        assert "a" not in names
        assert "a/b" in names
        assert "a" in await store.list_subscriptions(user.id)
        with pytest.raises(NoSuchMailbox):
            await store.delete_mailbox(user.id, "a")
        with pytest.raises(MailboxNotDeletable):
            await store.delete_mailbox(user.id, "Inbox")
        assert await store.quota_usage(user.id) == (0, 0)

    runner.run(body)


def test_recreated_name_gets_new_uidvalidity(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        user = await new_user(store)
        seen = set()
        for _ in range(3):
            box = await store.create_mailbox(user.id, "again")
            assert box.uidvalidity not in seen
            seen.add(box.uidvalidity)
            await store.delete_mailbox(user.id, "again")

    runner.run(body)


def test_rename_moves_children(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        user = await new_user(store)
        top = await store.create_mailbox(user.id, "work")
        await store.create_mailbox(user.id, "work/x/y")
        await store.create_mailbox(user.id, "workshop")
        await store.append(top.id, message())
        await store.set_subscribed(user.id, "work/x", True)
        await store.rename_mailbox(user.id, "work", "old/work")
        names = _names(await store.list_mailboxes(user.id))
        for name in ("old", "old/work", "old/work/x", "old/work/x/y", "workshop"):
            assert name in names
        assert not {"work", "work/x", "work/x/y"} & set(names)
        moved = await store.get_mailbox(user.id, "old/work")
        assert moved is not None
        assert moved.id == top.id
        assert moved.uidvalidity == top.uidvalidity
        assert [m.uid for m in await store.uid_list(moved.id)] == [1]
        assert "old/work/x" in await store.list_subscriptions(user.id)

    runner.run(body)


def test_rename_errors(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        user = await new_user(store)
        await store.create_mailbox(user.id, "a/b")
        await store.create_mailbox(user.id, "c/b")
        with pytest.raises(MailboxExists):
            await store.rename_mailbox(user.id, "a", "Sent")
        with pytest.raises(MailboxExists):
            await store.rename_mailbox(user.id, "a", "c")  # child a/b would hit c/b
        with pytest.raises(MailboxExists):
            await store.rename_mailbox(user.id, "Drafts", "INBOX")
        with pytest.raises(NoSuchMailbox):
            await store.rename_mailbox(user.id, "nope", "other")
        assert await store.get_mailbox(user.id, "a/b") is not None

    runner.run(body)


def test_rename_inbox_moves_messages(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        user = await new_user(store)
        inbox = await mailbox_id(store, user)
        await store.create_mailbox(user.id, "INBOX/child")
        for i in range(3):
            await store.deliver(message(f"m{i}"), [DeliveryTarget(user.id)])
        await store.store_flags(inbox, [2], FlagOp.ADD, frozenset({"\\Flagged"}))
        await store.expunge(inbox, None)
        before = await store.uid_list(inbox)
        await store.rename_mailbox(user.id, "INBOX", "Old Inbox")
        assert await store.uid_list(inbox) == []
        still = await store.get_mailbox(user.id, INBOX)
        assert still is not None
        assert still.id == inbox
        assert still.uidnext == 4
        assert await store.get_mailbox(user.id, "INBOX/child") is not None
        new = await store.get_mailbox(user.id, "Old Inbox")
        assert new is not None
        moved = await store.uid_list(new.id)
        assert [m.uid for m in moved] == [1, 2, 3]
        assert [m.flags for m in moved] == [m.flags for m in before]
        assert await store.quota_usage(user.id) == (sum(len(message(f"m{i}").data)
                                                        for i in range(3)), 3)

    runner.run(body)


def test_subscriptions_of_nonexistent_names(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        user = await new_user(store)
        await store.set_subscribed(user.id, "ghost/town", True)
        await store.set_subscribed(user.id, "ghost/town", True)  # idempotent
        assert "ghost/town" in await store.list_subscriptions(user.id)
        assert await store.get_mailbox(user.id, "ghost/town") is None
        box = await store.create_mailbox(user.id, "ghost/town")
        assert box.subscribed
        await store.set_subscribed(user.id, "Ghost/town", False)  # another name: no-op
        await store.set_subscribed(user.id, "ghost/town", False)
        assert "ghost/town" not in await store.list_subscriptions(user.id)
        await store.set_subscribed(user.id, "inbox", False)
        assert INBOX not in await store.list_subscriptions(user.id)

    runner.run(body)


def test_counts(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        user = await new_user(store)
        inbox = await mailbox_id(store, user)
        sizes = []
        for i in range(4):
            msg = message(f"body {i}")
            sizes.append(len(msg.data))
            await store.deliver(msg, [DeliveryTarget(user.id)])
        await store.store_flags(inbox, [1, 2], FlagOp.ADD, frozenset({"\\Seen"}))
        await store.store_flags(inbox, [2, 3], FlagOp.ADD, frozenset({"\\Deleted"}))
        counts = await store.mailbox_counts(inbox)
        box = await store.get_mailbox_by_id(inbox)
        assert box is not None
        assert (counts.messages, counts.unseen, counts.deleted) == (4, 2, 2)
        assert counts.size == sum(sizes)
        assert (counts.uidnext, counts.uidvalidity) == (5, box.uidvalidity)
        assert counts.highestmodseq == box.highestmodseq
        with pytest.raises(NoSuchMailbox):
            await store.mailbox_counts(inbox + 10_000)

    runner.run(body)


def test_claim_recent(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        user = await new_user(store)
        inbox = await mailbox_id(store, user)
        assert await store.claim_recent(inbox) == 0
        for _ in range(3):
            await store.deliver(message(), [DeliveryTarget(user.id)])
        # The first session to claim sees uids above 0 as \Recent; the next sees none.
        assert await store.claim_recent(inbox) == 0
        assert await store.claim_recent(inbox) == 3
        await store.deliver(message(), [DeliveryTarget(user.id)])
        assert await store.claim_recent(inbox) == 3
        assert await store.claim_recent(inbox) == 4
        # an unclaimed message expunged before anyone claimed: the mark still moves past it
        await store.deliver(message(), [DeliveryTarget(user.id)])
        await store.store_flags(inbox, [5], FlagOp.ADD, frozenset({"\\Deleted"}))
        assert await store.expunge(inbox) == [5]
        assert await store.claim_recent(inbox) == 4
        assert await store.claim_recent(inbox) == 5

    runner.run(body)
