"""``Store.lock_maildrop``: POP3's lock on a maildrop (RFC 1939 8), on every backend, and
across two PostgreSQL nodes (including a node whose connections vanish, as when it dies)."""

from __future__ import annotations

import asyncio

import psycopg

from posthouse.store.api import Store
from posthouse.store.postgres.backend import PostgresStore
from posthouse.store.postgres.maildrop import _KEY
from tests.backends.support import StoreRunner, new_user
from tests.backends.test_postgres_nodes import two_nodes
from tests.support.pgdb import PgTestDatabase


def test_one_holder_per_maildrop_until_released(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store, "bob")
        ann = await new_user(store, "ann")
        held = await store.lock_maildrop(bob.id)
        assert held is not None
        assert await store.lock_maildrop(bob.id) is None
        other = await store.lock_maildrop(ann.id)  # another user's maildrop is free
        assert other is not None
        await held.release()
        await held.release()  # idempotent
        again = await store.lock_maildrop(bob.id)
        assert again is not None
        await again.release()
        await other.release()

    runner.run(body)


def test_the_lock_holds_across_nodes_and_dies_with_its_connection(
        pg_database: PgTestDatabase) -> None:
    async def body(a: PostgresStore, b: PostgresStore) -> None:
        bob = await new_user(a, "bob")
        held = await a.lock_maildrop(bob.id)
        assert held is not None
        assert await b.lock_maildrop(bob.id) is None
        await held.release()
        on_b = await b.lock_maildrop(bob.id)
        assert on_b is not None
        # node B "dies": the server ends its lock connection; the lock goes with it
        with psycopg.connect(b.url, autocommit=True) as admin:
            ended = admin.execute(  # only the backend holding this very lock
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"  # noqa: S608
                " AND database = (SELECT oid FROM pg_database"
                "                 WHERE datname = current_database())"
                " AND ((classid::bigint << 32) | objid::bigint)"
                f" = {_KEY}".encode(), (bob.id,)).fetchall()
            assert ended == [(True,)]
        # pg_terminate_backend only signals: the backend and its lock go a moment later
        taken = None
        for _ in range(100):
            taken = await a.lock_maildrop(bob.id)
            if taken is not None:
                break
            await asyncio.sleep(0.05)
        assert taken is not None
        await taken.release()
        await on_b.release()  # its connection is gone: still no error

    two_nodes(pg_database, body)
