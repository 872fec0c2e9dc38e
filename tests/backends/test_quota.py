"""Quota: refused writes commit nothing; usage follows every change."""

from __future__ import annotations

import pytest

from posthouse.store.api import Store
from posthouse.store.blobs import INLINE_LIMIT
from posthouse.store.errors import QuotaExceeded
from posthouse.store.models import DeliveryTarget
from tests.backends.support import StoreRunner, mailbox_id, message, new_user

FILE_SIZED = INLINE_LIMIT + 6000  # larger than the inline limit: stored as a file


def test_quota_deliver_append_copy(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        size = len(message().data)
        bob = await new_user(store, quota_bytes=3 * size)
        carol = await new_user(store, "carol")  # no quota
        inbox = await mailbox_id(store, bob)
        await store.deliver(message(), [DeliveryTarget(bob.id)] * 2)
        with pytest.raises(QuotaExceeded):  # 4 > 3: the whole delivery is refused
            await store.deliver(message(), [DeliveryTarget(carol.id), DeliveryTarget(bob.id)] * 2)
        assert await store.quota_usage(carol.id) == (0, 0)
        await store.append(inbox, message())
        assert await store.quota_usage(bob.id) == (3 * size, 3)
        with pytest.raises(QuotaExceeded):
            await store.append(inbox, message())
        with pytest.raises(QuotaExceeded):
            await store.copy(inbox, [1], await mailbox_id(store, bob, "Archive"))
        # MOVE within one account does not grow usage.
        await store.move(inbox, [1], await mailbox_id(store, bob, "Archive"))
        assert await store.quota_usage(bob.id) == (3 * size, 3)
        await store.delete_messages(inbox, [2])
        assert await store.quota_usage(bob.id) == (2 * size, 2)
        await store.append(inbox, message())
        await store.set_user_options(bob.address, quota_bytes=0)  # 0 = unlimited
        await store.deliver(message(), [DeliveryTarget(bob.id)] * 5)
        assert await store.quota_usage(bob.id) == (8 * size, 8)
        assert (await store.mailbox_counts(inbox)).messages == 7

    runner.run(body)


def test_usage_survives_reopen(runner: StoreRunner) -> None:
    async def first(store: Store) -> tuple[int, tuple[int, int]]:
        bob = await new_user(store)
        await store.deliver(message(pad=FILE_SIZED), [DeliveryTarget(bob.id, "Sent")])
        await store.deliver(message(), [DeliveryTarget(bob.id)])
        return bob.id, await store.quota_usage(bob.id)

    user_id, usage = runner.run(first)

    async def second(store: Store) -> None:
        assert await store.quota_usage(user_id) == usage

    runner.run(second)
