"""Imported messages: kept uids and UIDVALIDITY, one write per message, uids only grow."""

from __future__ import annotations

import pytest

from posthouse.store.api import Store
from posthouse.store.blobs import INLINE_LIMIT
from posthouse.store.errors import NoSuchMailbox, QuotaExceeded, UidNotAvailable
from posthouse.store.models import DeliveryTarget, ImportedMessage
from tests.backends.support import StoreRunner, mailbox_id, message, new_user


def test_import_keeps_uids_and_flags(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        await store.adopt_uidvalidity(inbox, 1_600_000_000)
        big = message("big", pad=INLINE_LIMIT + 100)  # a file blob: written before its job
        got = await store.import_messages(inbox, [
            ImportedMessage(message("one"), frozenset({"\\Seen", "$label1"}), uid=3),
            ImportedMessage(big, frozenset({"\\Flagged"}), uid=7),
            ImportedMessage(message("three"), uid=None),
        ])
        assert got == [3, 7, 8]
        await store.reserve_uids(inbox, 20)
        counts = await store.mailbox_counts(inbox)
        assert (counts.uidvalidity, counts.uidnext, counts.messages) == (1_600_000_000, 20, 3)
        metas = await store.fetch_meta(inbox, [3, 7, 8])
        assert [m.flags for m in metas] == [
            frozenset({"\\Seen", "$label1"}), frozenset({"\\Flagged"}), frozenset()]
        assert await store.read_blob(metas[1].blob_id) == big.data
        assert metas[0].internaldate == message().internaldate
        await store.reserve_uids(inbox, 5)  # never lowers
        assert (await store.mailbox_counts(inbox)).uidnext == 20
        assert await store.quota_usage(bob.id) == (sum(m.size for m in metas), 3)

    runner.run(body)


def test_import_failure_is_per_message(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store, quota_bytes=0)
        inbox = await mailbox_id(store, bob)
        got = await store.import_messages(inbox, [
            ImportedMessage(message("a"), uid=5),
            ImportedMessage(message("b"), uid=4),  # below uidnext now: refused alone
            ImportedMessage(message("c"), uid=6),
        ])
        assert (got[0], got[2]) == (5, 6)
        assert isinstance(got[1], UidNotAvailable)
        assert [u.uid for u in await store.uid_list(inbox)] == [5, 6]
        assert (await store.mailbox_counts(inbox)).uidnext == 7

    runner.run(body)


def test_import_respects_quota(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        size = len(message("x").data)
        bob = await new_user(store, quota_bytes=size + 10)
        inbox = await mailbox_id(store, bob)
        got = await store.import_messages(
            inbox, [ImportedMessage(message("x")), ImportedMessage(message("y"))])
        assert got[0] == 1
        assert isinstance(got[1], QuotaExceeded)
        assert await store.quota_usage(bob.id) == (size, 1)

    runner.run(body)


def test_adopt_uidvalidity_only_before_any_uid(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        await store.adopt_uidvalidity(inbox, 42)
        await store.adopt_uidvalidity(inbox, 42)  # the same again: fine (a second import)
        await store.deliver(message(), [DeliveryTarget(bob.id)])
        await store.adopt_uidvalidity(inbox, 42)
        with pytest.raises(UidNotAvailable):
            await store.adopt_uidvalidity(inbox, 43)
        with pytest.raises(UidNotAvailable):
            await store.adopt_uidvalidity(inbox, 0)
        with pytest.raises(NoSuchMailbox):
            await store.adopt_uidvalidity(inbox + 999, 5)
        # a mailbox created later still gets a UIDVALIDITY of its own
        sent = await mailbox_id(store, bob, "Sent")
        await store.adopt_uidvalidity(sent, 4_000_000_000)
        fresh = await store.create_mailbox(bob.id, "Later")
        assert fresh.uidvalidity > 4_000_000_000

    runner.run(body)
