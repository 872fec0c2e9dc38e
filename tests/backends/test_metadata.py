"""METADATA entries (RFC 5464) in the store: depth, all-or-none, the count limit, server
entries, RENAME, DELETE, user removal, durability across a reopen."""

from __future__ import annotations

import pytest

from posthouse.store.api import Store
from posthouse.store.errors import MetadataReadOnly, MetadataTooMany, NoSuchMailbox
from tests.backends.support import StoreRunner, mailbox_id, new_user

SERVER = 0


def test_depth_and_sorting(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        await store.set_metadata(bob.id, inbox, [
            ("/private/a", b"1"), ("/private/a/b", b"2"), ("/private/a/b/c", b"3"),
            ("/private/ab", b"4")], max_entries=100)
        get = store.get_metadata
        assert await get(bob.id, inbox, ["/private/a"]) == [("/private/a", b"1")]
        assert await get(bob.id, inbox, ["/private/a"], depth=1) == [
            ("/private/a", b"1"), ("/private/a/b", b"2")]
        assert await get(bob.id, inbox, ["/private"], depth=None) == [
            ("/private/a", b"1"), ("/private/a/b", b"2"), ("/private/a/b/c", b"3"),
            ("/private/ab", b"4")]
        assert await get(bob.id, SERVER, ["/private/a"]) == []  # another scope

    runner.run(body)


def test_all_or_none_and_the_count_limit(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        await store.set_metadata(bob.id, inbox, [(f"/private/{n}", b"v") for n in range(10)],
                                 max_entries=10)
        with pytest.raises(MetadataTooMany):
            await store.set_metadata(bob.id, SERVER, [("/private/0", None), ("/private/x", b"")],
                                     max_entries=10)
        await store.set_metadata(bob.id, inbox, [("/private/0", None), ("/private/x", b"")],
                                 max_entries=10)
        with pytest.raises(MetadataReadOnly):
            await store.set_metadata(bob.id, SERVER, [("/private/y", b"1"),
                                                      ("/shared/comment", b"2")],
                                     max_entries=10)
        assert await store.get_metadata(bob.id, SERVER, ["/private/y"]) == []
        with pytest.raises(NoSuchMailbox):
            await store.set_metadata(bob.id, inbox + 1000, [("/private/y", b"1")],
                                     max_entries=10)

    runner.run(body)


def test_server_shared_entries_are_everyones(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        ann = await new_user(store, "ann")
        await store.set_server_metadata("/shared/comment", b"hello")
        for user in (bob, ann):
            assert await store.get_metadata(user.id, SERVER, ["/shared"], depth=1) == [
                ("/shared/comment", b"hello")]
        await store.remove_user(bob.address)
        assert await store.get_metadata(ann.id, SERVER, ["/shared/comment"]) == [
            ("/shared/comment", b"hello")]

    runner.run(body)


def test_rename_delete_and_reopen(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        box = await store.create_mailbox(bob.id, "A/B")
        await store.set_metadata(bob.id, box.id, [("/shared/comment", b"c")], max_entries=10)
        await store.rename_mailbox(bob.id, "A", "Z")
        assert await store.get_metadata(bob.id, await mailbox_id(store, bob, "Z/B"),
                                        ["/shared/comment"]) == [("/shared/comment", b"c")]

    runner.run(body)

    async def later(store: Store) -> None:
        bob = await store.get_user("bob@example.org")
        assert bob is not None
        moved = await mailbox_id(store, bob, "Z/B")
        assert await store.get_metadata(bob.id, moved, ["/shared/comment"]) == [
            ("/shared/comment", b"c")]
        await store.delete_mailbox(bob.id, "Z/B")
        again = await store.create_mailbox(bob.id, "Z/B")
        assert await store.get_metadata(bob.id, again.id, ["/shared/comment"]) == []

    runner.run(later)
