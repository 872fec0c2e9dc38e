"""SqliteStore under its low-space guard (store/space.py), on a filesystem whose free space the
test sets: below the threshold new mail is refused and nothing of it is written; notices owed
for accepted mail may use the reserve; mail is taken again as soon as space is back."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from posthouse.message.summary import message_text, summarize
from posthouse.store.blobs import INLINE_LIMIT
from posthouse.store.errors import StorageFull
from posthouse.store.models import DeliveryTarget
from posthouse.store.space import SpaceGuard
from posthouse.store.sqlite.backend import SqliteStore
from tests.backends.support import mailbox_id, message, new_user

MIB = 1 << 20


class FakeFs:
    """statvfs with the free bytes the test sets."""

    def __init__(self, free: int) -> None:
        self.free = free

    def __call__(self, path: Path) -> os.statvfs_result:
        return os.statvfs_result((4096, 1, 1 << 40, self.free, self.free, 0, 0, 0, 0, 255))


def blob_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]


def test_below_the_threshold_nothing_is_written_and_space_back_takes_mail(
        tmp_path: Path) -> None:
    fs = FakeFs(100 * MIB)
    data = tmp_path / "data"
    clock_now = [0.0]
    guard = SpaceGuard(data, min_free_bytes=10 * MIB, statvfs=fs, clock=lambda: clock_now[0])
    store = SqliteStore(data, summarize=summarize, message_text=message_text, space=guard)

    async def body() -> None:
        await store.open()
        try:
            bob = await new_user(store)
            inbox = await mailbox_id(store, bob)
            assert store.has_room(MIB)
            fs.free = 9 * MIB
            clock_now[0] = 10.0  # past the cached reading
            assert not store.has_room()
            big = message(pad=INLINE_LIMIT + 1000)  # would be a blob file
            for attempt in (store.deliver(big, [DeliveryTarget(bob.id)]),
                            store.append(inbox, big)):
                with pytest.raises(StorageFull):
                    await attempt
            assert await store.uid_list(inbox) == []
            assert blob_files(data) == []
            assert await store.quota_usage(bob.id) == (0, 0)
            # a notice owed for accepted mail (a DSN) may use the reserve
            await store.deliver(message(subject="Delivery Status Notification"),
                                [DeliveryTarget(bob.id)], reserve=True)
            fs.free = 30 * MIB
            assert store.has_room(MIB)
            await store.deliver(big, [DeliveryTarget(bob.id)])
            await store.append(inbox, message())
            assert [r.uid for r in await store.uid_list(inbox)] == [1, 2, 3]
        finally:
            await store.close()

    asyncio.run(body())
