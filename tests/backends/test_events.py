"""Change events: published after commit, with uids, modseq and origin, to the right user."""

from __future__ import annotations

import pytest

from posthouse.store.api import Store
from posthouse.store.errors import MailboxExists
from posthouse.store.events import (
    FlagsChanged,
    MailboxListChanged,
    MessagesAdded,
    MessagesExpunged,
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
            assert events.drain() == [MailboxListChanged(bob.id, "me")] * 4
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
