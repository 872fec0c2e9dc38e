"""``uids_by_flags``: the uid list grouped by flag set, as SEARCH by flags reads it."""

from __future__ import annotations

import pytest

from posthouse.store.api import Store
from posthouse.store.errors import NoSuchMailbox
from posthouse.store.models import DeliveryTarget, FlagOp
from tests.backends.support import StoreRunner, mailbox_id, message, new_user


def test_groups_match_the_uid_list(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        assert await store.uids_by_flags(inbox) == []  # an empty mailbox: no group
        for n in range(12):
            flags = frozenset({"\\Seen"} if n % 3 == 0 else set())
            await store.deliver(message(), [DeliveryTarget(bob.id, flags=flags)])
        await store.store_flags(inbox, [2, 5], FlagOp.ADD, frozenset({"$Work", "\\Flagged"}))
        await store.store_flags(inbox, [4], FlagOp.ADD, frozenset({"\\Deleted"}))
        assert await store.expunge(inbox) == [4]
        expected: dict[frozenset[str], set[int]] = {}
        for row in await store.uid_list(inbox):
            expected.setdefault(row.flags, set()).add(row.uid)
        grouped = await store.uids_by_flags(inbox)
        got: dict[frozenset[str], set[int]] = {}
        for flags, uids in grouped:
            got.setdefault(flags, set()).update(uids)
        assert got == expected
        assert sum(len(uids) for _, uids in grouped) == 11  # every message once
        with pytest.raises(NoSuchMailbox):
            await store.uids_by_flags(inbox + 1000)

    runner.run(body)

