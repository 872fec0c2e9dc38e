"""Per-mailbox counters (STATUS, STAT): after every kind of change, ``mailbox_counts`` equals a
recount of the rows as the store hands them out (uid_list, fetch_meta).

The counters are kept by the store itself; these tests only look through the Store API, so
they hold for every backend.
"""

from __future__ import annotations

from posthouse.store.api import Store
from posthouse.store.models import (
    DELETED,
    SEEN,
    DeliveryTarget,
    FlagOp,
    ImportedMessage,
    MailboxCounts,
)
from tests.backends.support import StoreRunner, mailbox_id, message, new_user


async def recount(store: Store, box_id: int) -> tuple[int, int, int, int, int]:
    """(messages, unseen, deleted, size, recent) counted from the rows."""
    box = await store.get_mailbox_by_id(box_id)
    assert box is not None
    rows = await store.uid_list(box_id)
    metas = await store.fetch_meta(box_id, [r.uid for r in rows])
    return (
        len(rows),
        sum(SEEN not in r.flags for r in rows),
        sum(DELETED in r.flags for r in rows),
        sum(m.size for m in metas),
        sum(r.uid > box.recent_mark for r in rows),
    )


def kept(counts: MailboxCounts) -> tuple[int, int, int, int, int]:
    return (counts.messages, counts.unseen, counts.deleted, counts.size, counts.recent)


async def exact(store: Store, *box_ids: int) -> None:
    for box_id in box_ids:
        assert kept(await store.mailbox_counts(box_id)) == await recount(store, box_id)


def test_counters_follow_every_change(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        alice = await new_user(store, "alice")
        inbox = await mailbox_id(store, bob)
        other = await mailbox_id(store, alice)
        archive = (await store.create_mailbox(bob.id, "Keep")).id
        await exact(store, inbox, archive, other)
        # delivery: several targets at once, one with flags, two copies into one mailbox
        await store.deliver(message("one"), [
            DeliveryTarget(bob.id), DeliveryTarget(bob.id, flags=frozenset({SEEN})),
            DeliveryTarget(alice.id), DeliveryTarget(bob.id, "Keep")])
        for n in range(5):
            await store.deliver(message(f"more {n}", pad=100 * n), [DeliveryTarget(bob.id)])
        await exact(store, inbox, archive, other)
        assert kept(await store.mailbox_counts(inbox))[:3] == (7, 6, 0)
        # APPEND, with and without \Seen and keywords
        await store.append(inbox, message("appended"), frozenset({SEEN, "$label"}))
        await store.append(inbox, message("appended 2", pad=3000), frozenset({DELETED}))
        await exact(store, inbox)
        # STORE: add, remove, replace; changes that toggle nothing counted leave them alone
        uids = [r.uid for r in await store.uid_list(inbox)]
        await store.store_flags(inbox, uids[:4], FlagOp.ADD, frozenset({SEEN}))
        await exact(store, inbox)
        await store.store_flags(inbox, uids[1:3], FlagOp.REMOVE, frozenset({"\\seen"}))
        await exact(store, inbox)
        await store.store_flags(inbox, uids[2:6], FlagOp.REPLACE,
                                frozenset({DELETED, "$x", "\\Flagged"}))
        await exact(store, inbox)
        await store.store_flags(inbox, uids, FlagOp.ADD, frozenset({"\\Answered"}))
        await exact(store, inbox)
        # \Recent claimed by a SELECT
        assert (await store.mailbox_counts(inbox)).recent == len(uids)
        await store.claim_recent(inbox)
        assert (await store.mailbox_counts(inbox)).recent == 0
        await store.deliver(message("after select"), [DeliveryTarget(bob.id)])
        await exact(store, inbox)
        assert (await store.mailbox_counts(inbox)).recent == 1
        # COPY and MOVE, both ways
        uids = [r.uid for r in await store.uid_list(inbox)]
        await store.copy(inbox, uids[:5], archive)
        await exact(store, inbox, archive)
        await store.move(inbox, uids[5:8], archive)
        await exact(store, inbox, archive)
        await store.move(archive, [r.uid for r in await store.uid_list(archive)][:2], inbox)
        await exact(store, inbox, archive)
        # EXPUNGE (some, then all), POP3's delete of unflagged messages
        await store.expunge(inbox, uids[2:4])
        await exact(store, inbox)
        await store.expunge(inbox)
        await exact(store, inbox)
        assert (await store.mailbox_counts(inbox)).deleted == 0
        await store.delete_messages(inbox, [r.uid for r in await store.uid_list(inbox)][:2])
        await exact(store, inbox)
        # import with kept uids and flags
        await store.import_messages(archive, [
            ImportedMessage(message("imported"), frozenset({SEEN}), uid=900),
            ImportedMessage(message("imported 2"), frozenset({DELETED})),
            ImportedMessage(message("too low"), uid=3)])  # refused: below uidnext
        await exact(store, archive)
        # RENAME keeps them; renaming INBOX moves its messages to the new name
        await store.rename_mailbox(bob.id, "Keep", "Old")
        assert await mailbox_id(store, bob, "Old") == archive
        await exact(store, archive)
        before = kept(await store.mailbox_counts(inbox))
        await store.rename_mailbox(bob.id, "INBOX", "Saved")
        saved = await mailbox_id(store, bob, "Saved")
        await exact(store, inbox, saved)
        assert kept(await store.mailbox_counts(inbox)) == (0, 0, 0, 0, 0)
        assert kept(await store.mailbox_counts(saved))[:4] == before[:4]
        # DELETE: the others are untouched
        await store.delete_mailbox(bob.id, "Saved")
        await exact(store, inbox, archive, other)

    runner.run(body)


def test_counters_survive_reopen(runner: StoreRunner) -> None:
    async def fill(store: Store) -> int:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        for n in range(4):
            await store.deliver(message(f"m {n}"), [DeliveryTarget(bob.id)])
        await store.store_flags(inbox, [1, 2], FlagOp.ADD, frozenset({SEEN, DELETED}))
        await store.expunge(inbox, [2])
        return inbox

    async def check(store: Store, inbox: int) -> None:
        await exact(store, inbox)
        assert kept(await store.mailbox_counts(inbox))[:3] == (3, 2, 1)

    inbox = runner.run(fill)
    runner.run(lambda store: check(store, inbox))
