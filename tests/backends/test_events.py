"""Change events: published after commit, with uids, modseq and origin, to the right user."""

from __future__ import annotations

import pytest

from posthouse.store.api import Store
from posthouse.store.errors import MailboxExists
from posthouse.store.events import (
    BOX_CREATED,
    BOX_DELETED,
    BOX_RENAMED,
    SERVER_WIDE,
    SUBSCRIBED,
    UNSUBSCRIBED,
    FlagsChanged,
    MailboxChange,
    MailboxListChanged,
    MessagesAdded,
    MessagesExpunged,
    MetadataChanged,
)
from posthouse.store.models import DeliveryTarget, FlagOp, UidFlags
from tests.backends.support import StoreRunner, mailbox_id, message, new_user


def test_message_events(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store, "bob")
        carol = await new_user(store, "carol")
        inbox = await mailbox_id(store, bob)
        archive = await mailbox_id(store, bob, "Archive")
        bob_events = store.subscribe(bob.id)
        carol_events = store.subscribe(carol.id)
        try:
            await store.deliver(message(), [DeliveryTarget(bob.id)] * 2)
            box = await store.get_mailbox_by_id(inbox)
            assert box is not None
            assert bob_events.drain() == [
                MessagesAdded(bob.id, inbox, (1, 2), box.highestmodseq, None)
            ]
            changed, _ = await store.store_flags(
                inbox, [1, 2], FlagOp.ADD, frozenset({"\\Seen"}), origin="s1"
            )
            await store.store_flags(inbox, [1, 2], FlagOp.ADD, frozenset({"\\Seen"}), origin="s1")
            modseq = changed[0].modseq
            assert bob_events.drain() == [FlagsChanged(
                bob.id, inbox,
                (UidFlags(1, modseq, frozenset({"\\Seen"})),
                 UidFlags(2, modseq, frozenset({"\\Seen"}))),
                modseq, "s1",
            )]
            await store.move(inbox, [2], archive, origin="s2")
            added, expunged = bob_events.drain()
            assert isinstance(added, MessagesAdded)
            assert added.mailbox_id == archive
            assert added.uids == (1,)
            assert added.origin == "s2"
            assert isinstance(expunged, MessagesExpunged)
            assert expunged.mailbox_id == inbox
            assert expunged.uids == (2,)
            assert expunged.origin == "s2"
            assert expunged.highestmodseq > modseq
            await store.delete_messages(inbox, [1], origin="pop3")
            (gone,) = bob_events.drain()
            assert isinstance(gone, MessagesExpunged)
            assert gone.uids == (1,)
            assert carol_events.drain() == []
        finally:
            bob_events.close()
            carol_events.close()

    runner.run(body)


def test_mailbox_list_events_and_failed_writes(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store, "bob")
        carol = await new_user(store, "carol")
        events = store.subscribe(bob.id)
        other = store.subscribe(carol.id)
        try:
            await store.create_mailbox(bob.id, "x", origin="me")
            await store.rename_mailbox(bob.id, "x", "y", origin="me")
            await store.set_subscribed(bob.id, "y", True, origin="me")
            await store.delete_mailbox(bob.id, "y", origin="me")
            assert events.drain() == [
                MailboxListChanged(bob.id, "me", (MailboxChange(BOX_CREATED, "x"),)),
                MailboxListChanged(bob.id, "me", (MailboxChange(BOX_RENAMED, "y", "x"),)),
                MailboxListChanged(bob.id, "me", (MailboxChange(SUBSCRIBED, "y"),)),
                MailboxListChanged(bob.id, "me", (MailboxChange(BOX_DELETED, "y"),)),
            ]
            # parents made on the way are named too, a tree renamed name by name
            await store.create_mailbox(bob.id, "a/b/c", origin=None)
            await store.rename_mailbox(bob.id, "a", "z", origin=None)
            await store.set_subscribed(bob.id, "gone", False, origin=None)
            created, renamed, unsubscribed = events.drain()
            assert isinstance(created, MailboxListChanged)
            assert created.changes == tuple(MailboxChange(BOX_CREATED, n)
                                            for n in ("a", "a/b", "a/b/c"))
            assert isinstance(renamed, MailboxListChanged)
            assert sorted(renamed.changes, key=lambda ch: ch.name) == [
                MailboxChange(BOX_RENAMED, "z", "a"), MailboxChange(BOX_RENAMED, "z/b", "a/b"),
                MailboxChange(BOX_RENAMED, "z/b/c", "a/b/c")]
            assert unsubscribed == MailboxListChanged(
                bob.id, None, (MailboxChange(UNSUBSCRIBED, "gone"),))
            # A write that fails publishes nothing.
            with pytest.raises(MailboxExists):
                await store.create_mailbox(bob.id, "Sent")
            assert events.drain() == []
            assert other.drain() == []
            # Async iteration yields the next event.
            await store.append(await mailbox_id(store, bob), message(), origin="it")
            event = await anext(aiter(events))
            assert isinstance(event, MessagesAdded)
            assert event.origin == "it"
        finally:
            events.close()
            other.close()

    runner.run(body)


def test_metadata_events(runner: StoreRunner) -> None:
    """A user's entries go to that user; the server's shared ones to every user."""

    async def body(store: Store) -> None:
        bob = await new_user(store, "bob")
        carol = await new_user(store, "carol")
        events = store.subscribe(bob.id)
        other = store.subscribe(carol.id)
        try:
            inbox = await mailbox_id(store, bob)
            await store.set_metadata(bob.id, inbox, [("/private/a", b"1"), ("/shared/b", None)],
                                     max_entries=10, origin="me")
            assert events.drain() == [
                MetadataChanged(bob.id, inbox, ("/private/a", "/shared/b"), "me")]
            assert other.drain() == []
            await store.set_server_metadata("/shared/comment", b"x")
            expected = [MetadataChanged(SERVER_WIDE, 0, ("/shared/comment",))]
            assert events.drain() == expected
            assert other.drain() == expected
        finally:
            events.close()
            other.close()

    runner.run(body)


def test_a_bounded_subscription_drops_all_but_its_mailbox(runner: StoreRunner) -> None:
    """Past ``limit`` only events of ``keep_mailbox`` are queued; ``overflowed`` says so."""

    async def body(store: Store) -> None:
        bob = await new_user(store, "bob")
        events = store.subscribe(bob.id)
        try:
            inbox = await mailbox_id(store, bob)
            other = (await store.create_mailbox(bob.id, "other", origin=None)).id
            events.drain()
            events.limit, events.keep_mailbox = 1, inbox
            await store.append(other, message(), origin=None)
            assert not events.overflowed
            await store.append(other, message(), origin=None)
            await store.create_mailbox(bob.id, "more", origin=None)
            assert events.overflowed
            await store.append(inbox, message(), origin=None)
            kept = events.drain()
            assert [type(e) for e in kept] == [MessagesAdded, MessagesAdded]
            assert [e.mailbox_id for e in kept if isinstance(e, MessagesAdded)] == [other, inbox]
        finally:
            events.close()

    runner.run(body)
