"""Two PostgresStores on one database, as two posthouse nodes: events cross with
LISTEN/NOTIFY, uids never collide, queue claims are exclusive, view holds span nodes.

Both "nodes" run in one event loop here (each with its own pool, LISTEN connection and node
id); tests/integration/test_postgres_server.py runs a whole server on PostgreSQL. Waiting for
an event has a deadline only so that a missing one fails the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import psycopg

from posthouse.store.events import (
    FlagsChanged,
    MessagesAdded,
    MessagesExpunged,
    StoreEvent,
    Subscription,
)
from posthouse.store.models import DeliveryTarget, FlagOp, OutboundEnvelope, OutboundRecipient
from posthouse.store.postgres.backend import PostgresStore
from tests.backends.support import mailbox_id, message, new_user
from tests.support.pgdb import PgTestDatabase
from tests.support.stores import postgres_store

DEADLINE = 20.0
FAR_FUTURE = datetime(2999, 1, 1, tzinfo=UTC)
ENVELOPE = OutboundEnvelope("bob@example.org", (OutboundRecipient("a@remote.example"),))


def two_nodes(pg_database: PgTestDatabase,
              body: Callable[[PostgresStore, PostgresStore], Awaitable[None]]) -> None:
    url = pg_database.fresh_url()

    async def main() -> None:
        a, b = postgres_store(url), postgres_store(url)
        await a.open()
        await b.open()
        try:
            await body(a, b)
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


async def next_event(sub: Subscription, kind: type) -> StoreEvent:
    """The next event of ``kind`` (others are skipped)."""
    async with asyncio.timeout(DEADLINE):
        while True:
            event = await sub.get()
            if isinstance(event, kind):
                return event


def test_events_cross_nodes(pg_database: PgTestDatabase) -> None:
    async def body(a: PostgresStore, b: PostgresStore) -> None:
        bob = await new_user(a)
        inbox = await mailbox_id(a, bob)
        on_b, on_a = b.subscribe(bob.id), a.subscribe(bob.id)
        ((_, uid),) = await a.deliver(message(), [DeliveryTarget(bob.id)])
        added = await next_event(on_b, MessagesAdded)
        assert added == MessagesAdded(bob.id, inbox, (uid,), added.highestmodseq)
        assert (await next_event(on_a, MessagesAdded)).uids == (uid,)  # once, its own
        await b.store_flags(inbox, [uid], FlagOp.ADD, frozenset({"\\Seen"}), origin="s1")
        flags = await next_event(on_a, FlagsChanged)
        assert isinstance(flags, FlagsChanged)
        assert [(c.uid, c.flags) for c in flags.changes] == [(uid, frozenset({"\\Seen"}))]
        assert flags.origin is None  # a session origin does not cross nodes
        await b.delete_messages(inbox, [uid])
        gone = await next_event(on_a, MessagesExpunged)
        assert isinstance(gone, MessagesExpunged)
        assert gone.uids == (uid,)
        assert on_a.drain() == []  # each change arrived once

    two_nodes(pg_database, body)


def test_a_change_too_large_for_a_payload_is_read_by_the_receiver(
        pg_database: PgTestDatabase) -> None:
    async def body(a: PostgresStore, b: PostgresStore) -> None:
        bob = await new_user(a)
        inbox = await mailbox_id(a, bob)
        await a.deliver(message(), [DeliveryTarget(bob.id)] * 600)
        on_b = b.subscribe(bob.id)
        flag = "$" + "k" * 40
        changed, _ = await a.store_flags(inbox, range(1, 601), FlagOp.ADD, frozenset({flag}))
        event = await next_event(on_b, FlagsChanged)
        assert isinstance(event, FlagsChanged)
        assert sorted(event.changes, key=lambda c: c.uid) == changed
        await a.expunge(inbox)  # nothing flagged \Deleted: no event
        await a.delete_messages(inbox, range(1, 601))
        gone = await next_event(on_b, MessagesExpunged)
        assert isinstance(gone, MessagesExpunged)
        assert gone.uids == tuple(range(1, 601))

    two_nodes(pg_database, body)


def test_uids_and_modseqs_never_collide_across_nodes(pg_database: PgTestDatabase) -> None:
    async def body(a: PostgresStore, b: PostgresStore) -> None:
        bob = await new_user(a)
        inbox = await mailbox_id(a, bob)
        results = await asyncio.gather(*(
            node.deliver(message(f"n{i}"), [DeliveryTarget(bob.id)])
            for i in range(40) for node in (a, b)))
        uids = sorted(uid for ((_, uid),) in results)
        assert uids == list(range(1, 81))
        flagged = await asyncio.gather(*(
            node.store_flags(inbox, [uid], FlagOp.ADD, frozenset({"\\Flagged"}))
            for uid, node in zip(range(1, 81), [a, b] * 40, strict=True)))
        modseqs = [changed[0].modseq for changed, _ in flagged]
        assert len(set(modseqs)) == 80

    two_nodes(pg_database, body)


def test_queue_claims_are_exclusive_until_released(pg_database: PgTestDatabase) -> None:
    async def body(a: PostgresStore, b: PostgresStore) -> None:
        ids = [await a.enqueue(f"m{i}".encode(), ENVELOPE) for i in range(6)]
        got_a, got_b = await asyncio.gather(a.due(FAR_FUTURE, 4), b.due(FAR_FUTURE, 4))
        claimed_a, claimed_b = {q.id for q in got_a}, {q.id for q in got_b}
        assert not claimed_a & claimed_b
        assert claimed_a | claimed_b == set(ids)
        # A node sees its own claims again; the other does not, until they are released.
        assert {q.id for q in await a.due(FAR_FUTURE, 10)} == claimed_a
        assert {q.id for q in await b.due(FAR_FUTURE, 10)} == claimed_b
        # Asking again renews the leases of what a node has in flight.
        async with await psycopg.AsyncConnection.connect(a.url, autocommit=True) as db:
            leases = "SELECT claim_until FROM queue WHERE id = ANY(%s) ORDER BY id"
            before = await (await db.execute(leases, (sorted(claimed_a),))).fetchall()
            await a.due(FAR_FUTURE, 10, exclude=claimed_a)
            after = await (await db.execute(leases, (sorted(claimed_a),))).fetchall()
            assert all(new[0] > old[0] for old, new in zip(before, after, strict=True))
        first = min(claimed_a)
        await a.reschedule(first, datetime(2000, 1, 1, tzinfo=UTC), error="451 later")
        assert first in {q.id for q in await b.due(FAR_FUTURE, 10)}

    two_nodes(pg_database, body)


def test_a_view_on_one_node_holds_what_another_expunges(pg_database: PgTestDatabase) -> None:
    async def body(a: PostgresStore, b: PostgresStore) -> None:
        bob = await new_user(a)
        inbox = await mailbox_id(a, bob)
        msg = message("held across nodes")
        ((_, uid),) = await a.deliver(msg, [DeliveryTarget(bob.id)])
        view = await a.open_view(inbox)
        await b.delete_messages(inbox, [uid])
        (meta,) = await a.fetch_expunged(view, [uid], with_summary=True)
        assert meta.summary is not None
        assert await a.read_blob(meta.blob_id) == msg.data
        await a.release_expunged(view, [uid])
        assert await a.fetch_expunged(view, [uid]) == []
        assert await b.read_blobs([meta.blob_id]) == {}
        await a.close_view(view)

    two_nodes(pg_database, body)


def test_a_lost_listen_connection_is_caught_up(pg_database: PgTestDatabase) -> None:
    async def body(a: PostgresStore, b: PostgresStore) -> None:
        bob = await new_user(a)
        inbox = await mailbox_id(a, bob)
        await a.deliver(message("before"), [DeliveryTarget(bob.id)])
        view = await b.open_view(inbox)
        on_b = b.subscribe(bob.id)
        lost_pid = b.listener.identity[0]
        async with await psycopg.AsyncConnection.connect(a.url, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (lost_pid,))
        # Delivered while node B has no LISTEN connection: the notification is lost.
        ((_, uid),) = await a.deliver(message("meanwhile"), [DeliveryTarget(bob.id)])
        added = await next_event(on_b, MessagesAdded)
        assert isinstance(added, MessagesAdded)
        assert uid in added.uids
        assert b.listener.catch_ups == 1
        assert b.listener.identity[0] != lost_pid
        # B's view moved to its new connection: a node opening now does not free it.
        await a.close()
        await a.open()
        assert a.swept_views == 0
        await b.close_view(view)

    two_nodes(pg_database, body)
