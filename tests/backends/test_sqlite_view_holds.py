"""Expunged messages held for open IMAP views (store/sqlite/holds.py): nothing an open view
can address is freed, everything is freed once no view needs it, and a restart frees what
was held when the process stopped."""

from __future__ import annotations

from pathlib import Path

from posthouse.store.blobs import INLINE_LIMIT
from posthouse.store.models import DeliveryTarget, FlagOp
from posthouse.store.sqlite.backend import SqliteStore
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
