"""Expunged messages held for open IMAP views (store/sqlite/holds.py): nothing an open view
can address is freed, everything is freed once no view needs it, and a restart frees what
was held when the process stopped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from posthouse.store.blobs import INLINE_LIMIT
from posthouse.store.models import DeliveryTarget, FlagOp, StoredMessage
from posthouse.store.sqlite.backend import SqliteStore
from posthouse.store.sqlite.holds import ViewHolds
from tests.backends.sqlite_checks import blob_files, integrity_problems, query, run
from tests.backends.support import mailbox_id, message, new_user

BIG = INLINE_LIMIT + 6000


def test_expunged_blob_waits_for_every_open_view(tmp_path: Path) -> None:
    big = message("held for the views", pad=BIG)

    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        [(_, uid)] = await store.deliver(big, [DeliveryTarget(bob.id)])
        one, two = await store.open_view(inbox), await store.open_view(inbox)
        assert await store.delete_messages(inbox, [uid]) == [uid]
        assert await store.fetch_meta(inbox, [uid]) == []
        for view in (one, two):
            [held] = await store.fetch_expunged(view, [uid], with_summary=True)
            assert held.uid == uid
            assert held.summary is not None
            assert await store.read_blob(held.blob_id) == big.data
        await store.release_expunged(one, [uid])
        assert await store.fetch_expunged(one, [uid]) == []
        assert len(blob_files(tmp_path)) == 1  # the other view still addresses it
        await store.close_view(two)
        assert blob_files(tmp_path) == set()
        assert query(tmp_path, "SELECT count(*) FROM blobs") == [(0,)]
        await store.close_view(one)
        assert integrity_problems(tmp_path) == []

    run(tmp_path, body)


def test_no_view_no_hold_and_later_views_hold_nothing_old(tmp_path: Path) -> None:
    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        [(_, first)] = await store.deliver(message("one", pad=BIG), [DeliveryTarget(bob.id)])
        await store.delete_messages(inbox, [first])
        assert blob_files(tmp_path) == set()  # nobody looking: freed at once
        [(_, second)] = await store.deliver(message("two"), [DeliveryTarget(bob.id)])
        view = await store.open_view(inbox)
        assert await store.fetch_expunged(view, [first]) == []
        await store.store_flags(inbox, [second], FlagOp.ADD, frozenset({"\\Deleted"}))
        assert await store.expunge(inbox) == [second]
        assert len(await store.fetch_expunged(view, [second])) == 1
        moved = await store.create_mailbox(bob.id, "Elsewhere")
        [(_, third)] = await store.deliver(message("three"), [DeliveryTarget(bob.id)])
        await store.move(inbox, [third], moved.id)  # MOVE holds the source row too
        assert [m.uid for m in await store.fetch_expunged(view, [second, third])] == [
            second, third]
        await store.close_view(view)
        assert integrity_problems(tmp_path) == []

    run(tmp_path, body)


def test_restart_frees_what_was_held(tmp_path: Path) -> None:
    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        [(_, uid)] = await store.deliver(message("kept", pad=BIG), [DeliveryTarget(bob.id)])
        await store.open_view(inbox)
        await store.delete_messages(inbox, [uid])  # the view is never closed

    run(tmp_path, body)
    assert len(blob_files(tmp_path)) == 1
    assert integrity_problems(tmp_path) != []  # the held reference, as a crash leaves it

    async def reopen(store: SqliteStore) -> int:
        return store.recounted_blobs

    assert run(tmp_path, reopen) == 1
    assert blob_files(tmp_path) == set()
    assert integrity_problems(tmp_path) == []


def test_views_open_and_close_without_the_writer_unless_a_removal_is_pending(
        tmp_path: Path) -> None:
    """Opening a view, and closing one that waits on nothing, write nothing: no writer job;
    while a removal from the mailbox is in the writer's batch they wait for its commit."""
    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        [(_, uid)] = await store.deliver(message("one"), [DeliveryTarget(bob.id)])
        jobs = store.write_stats.jobs
        view = await store.open_view(inbox)
        await store.close_view(view)
        assert store.write_stats.jobs == jobs
        view = await store.open_view(inbox)
        await store.delete_messages(inbox, [uid])
        jobs = store.write_stats.jobs
        await store.close_view(view)  # it waits on the held message: the writer frees it
        assert store.write_stats.jobs == jobs + 1
        assert query(tmp_path, "SELECT count(*) FROM blobs") == [(0,)]
        assert integrity_problems(tmp_path) == []

    run(tmp_path, body)


def test_a_pending_removal_holds_back_views_opened_or_closed_at_once() -> None:
    holds = ViewHolds()
    assert holds.open_now(1, 7)
    assert holds.watched(7)  # a removal from mailbox 7 is in the writer's batch
    assert not holds.open_now(2, 7)
    assert not holds.close_now(1)
    assert holds.open_now(3, 8)  # other mailboxes are not held back
    holds.settle()  # committed
    assert holds.open_now(2, 7)
    assert holds.close_now(1)
    assert holds.close_now(1)  # not open any more: nothing to do
    holds.watched(7)
    holds.hold(7, [StoredMessage(5, 1, frozenset(), datetime.now(UTC), 10, "a" * 64)])
    holds.settle()
    assert not holds.close_now(2)  # it waits on uid 5: released through the writer
    assert holds.close_now(3)
