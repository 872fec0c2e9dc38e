"""Many concurrent writers: every acknowledged write is durable, visible and well ordered."""

from __future__ import annotations

import asyncio

from posthouse.store.api import Store
from posthouse.store.blobs import INLINE_LIMIT
from posthouse.store.models import DeliveryTarget, FlagOp
from tests.backends.support import StoreRunner, mailbox_id, message, new_user

FILE_SIZED = INLINE_LIMIT + 6000  # larger than the inline limit: stored as a file

TASKS = 50
PER_TASK = 4


def test_concurrent_delivers_are_durable_and_visible(runner: StoreRunner) -> None:
    async def body(store: Store) -> tuple[int, dict[int, int]]:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        acked: dict[int, int] = {}  # uid -> message number

        async def worker(task: int) -> None:
            for i in range(PER_TASK):
                number = task * PER_TASK + i
                pad = FILE_SIZED if number % 10 == 0 else 0  # some file-sized blobs
                ((box, uid),) = await store.deliver(
                    message(f"message {number}", pad=pad), [DeliveryTarget(bob.id)]
                )
                assert box == inbox
                # A caller that awaited its write sees it at once.
                (meta,) = await store.fetch_meta(inbox, [uid])
                acked[uid] = number
                assert meta.size == len(message(f"message {number}", pad=pad).data)

        await asyncio.gather(*(worker(t) for t in range(TASKS)))
        assert sorted(acked) == list(range(1, TASKS * PER_TASK + 1))
        return inbox, acked

    inbox, acked = runner.run(body)

    async def reopened(store: Store) -> None:
        listed = await store.uid_list(inbox)
        assert [m.uid for m in listed] == list(range(1, TASKS * PER_TASK + 1))
        metas = await store.fetch_meta(inbox, list(acked))
        for meta in metas[::17]:
            number = acked[meta.uid]
            pad = FILE_SIZED if number % 10 == 0 else 0
            assert await store.read_blob(meta.blob_id) == message(f"message {number}", pad=pad).data

    runner.run(reopened)


def test_concurrent_flag_stores_get_distinct_modseqs(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        await store.deliver(message(), [DeliveryTarget(bob.id)] * 40)
        results = await asyncio.gather(*(
            store.store_flags(inbox, [uid], FlagOp.ADD, frozenset({f"$k{uid}"}))
            for uid in range(1, 41)
        ))
        modseqs = [changed[0].modseq for changed, _ in results]
        assert len(set(modseqs)) == 40
        box = await store.get_mailbox_by_id(inbox)
        assert box is not None
        assert box.highestmodseq == max(modseqs)

    runner.run(body)
