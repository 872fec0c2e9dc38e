"""SQLite-specific behaviour: group commit, blob storage on disk, orphan sweep, query plans."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from posthouse.store import blobs
from posthouse.store.blobs import INLINE_LIMIT
from posthouse.store.errors import AlreadyExists, NoSuchMailbox, StorageFailure
from posthouse.store.models import DeliveryTarget, OutboundEnvelope, OutboundRecipient
from posthouse.store.sqlite.backend import SqliteStore
from posthouse.store.sqlite.msgreads import UID_LIST_SQL
from posthouse.store.sqlite.schema import DB_FILE, LATEST_VERSION, MIGRATIONS, connect
from posthouse.store.sqlite.writer import GroupCommitWriter, WriteContext, map_error
from tests.backends.sqlite_checks import UNDO_V9, blob_files, integrity_problems, query, run
from tests.backends.support import mailbox_id, message, new_user
from tests.support.stores import sqlite_store

BIG = INLINE_LIMIT + 6000  # padding that makes a message larger than blobs.INLINE_LIMIT



def test_a_claim_with_nothing_new_writes_nothing(tmp_path: Path) -> None:
    """Every IMAP4rev1 SELECT claims \\Recent; with nothing above the mark the answer comes
    from a point read, no durable write (the writer commits nothing)."""
    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        await store.deliver(message(), [DeliveryTarget(bob.id)])
        assert await store.claim_recent(inbox) == 0
        commits = store.write_stats.commits
        assert await store.claim_recent(inbox) == 1
        assert await store.claim_recent(inbox) == 1
        assert store.write_stats.commits == commits
        with pytest.raises(NoSuchMailbox):
            await store.claim_recent(inbox + 1000)

    run(tmp_path, body)


def test_group_commit_batches_concurrent_writes(tmp_path: Path) -> None:
    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        before = store.write_stats.jobs, store.write_stats.commits

        async def worker(task: int) -> None:
            for i in range(4):
                await store.deliver(message(f"{task}/{i}"), [DeliveryTarget(bob.id)])

        await asyncio.gather(*(worker(t) for t in range(50)))
        jobs = store.write_stats.jobs - before[0]
        commits = store.write_stats.commits - before[1]
        assert jobs == 200
        assert commits < jobs / 2, (commits, jobs)
        assert store.write_stats.largest_batch > 1

    run(tmp_path, body)
    assert integrity_problems(tmp_path) == []


def test_a_failing_job_does_not_spoil_its_batch(tmp_path: Path) -> None:
    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        targets = [DeliveryTarget(bob.id, "INBOX" if i % 3 else "Nope") for i in range(60)]
        results = await asyncio.gather(
            *(store.deliver(message(f"n{i}", pad=BIG * (i % 2)), [t])
              for i, t in enumerate(targets)),
            return_exceptions=True,
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        assert len(failed) == 20
        assert all(isinstance(r, NoSuchMailbox) for r in failed)
        inbox = await mailbox_id(store, bob)
        assert len(await store.uid_list(inbox)) == 40
        assert store.write_stats.failed_jobs == 20
        assert store.write_stats.largest_batch > 1

    run(tmp_path, body)
    assert integrity_problems(tmp_path) == []  # also: no file left by the failed jobs


def test_blob_shared_by_recipients_is_stored_once(tmp_path: Path) -> None:
    small, big = message("small"), message("big", pad=BIG)

    async def body(store: SqliteStore) -> None:
        users = [await new_user(store, name) for name in ("bob", "carol", "dave")]
        for msg in (small, big):
            await store.deliver(msg, [DeliveryTarget(u.id) for u in users])
            await store.deliver(msg, [DeliveryTarget(users[0].id, "Archive")])
        rows = query(tmp_path, "SELECT id, refs, inline FROM blobs ORDER BY inline")
        assert rows == [
            (blobs.blob_id_of(big.data), 4, 0), (blobs.blob_id_of(small.data), 4, 1),
        ]
        assert blob_files(tmp_path) == {blobs.blob_id_of(big.data)}
        assert query(tmp_path, "SELECT count(*) FROM summaries") == [(2,)]
        assert integrity_problems(tmp_path) == []
        # Drop references one by one; the last one frees row, summary and file.
        for user in users:
            await store.delete_messages(await mailbox_id(store, user), [1, 2])
        assert {r[0] for r in query(tmp_path, "SELECT refs FROM blobs")} == {1}
        await store.delete_mailbox(users[0].id, "Archive")
        assert query(tmp_path, "SELECT count(*) FROM blobs") == [(0,)]
        assert query(tmp_path, "SELECT count(*) FROM blob_data") == [(0,)]
        assert query(tmp_path, "SELECT count(*) FROM summaries") == [(0,)]
        assert query(tmp_path, "SELECT count(*) FROM fts") == [(0,)]
        assert blob_files(tmp_path) == set()

    run(tmp_path, body)


def test_queue_holds_blob_until_removed(tmp_path: Path) -> None:
    big = message("outgoing", pad=BIG)
    envelope = OutboundEnvelope("bob@example.org", (OutboundRecipient("x@remote.example"),))

    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        await store.deliver(big, [DeliveryTarget(bob.id, "Sent")], outbound=envelope)
        queue_id = await store.enqueue(big.data, envelope)
        assert query(tmp_path, "SELECT refs FROM blobs") == [(3,)]
        await store.delete_messages(await mailbox_id(store, bob, "Sent"), [1])
        (first, _) = await store.list_queue()
        await store.remove_queued(first.id)
        assert blob_files(tmp_path) == {blobs.blob_id_of(big.data)}
        await store.remove_queued(queue_id)
        assert blob_files(tmp_path) == set()
        assert query(tmp_path, "SELECT count(*) FROM blobs") == [(0,)]

    run(tmp_path, body)


def test_freed_and_redelivered_content_in_one_batch(tmp_path: Path) -> None:
    """Dropping the last reference while the same content arrives keeps the file."""
    big = message("again and again", pad=BIG)

    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        for _round in range(5):
            uids = [m.uid for m in await store.uid_list(inbox)]
            await asyncio.gather(
                store.delete_messages(inbox, uids),
                *(store.deliver(big, [DeliveryTarget(bob.id)]) for _ in range(3)),
            )
            assert integrity_problems(tmp_path) == []
        (meta, *_) = await store.fetch_meta(inbox, [m.uid for m in await store.uid_list(inbox)])
        assert await store.read_blob(meta.blob_id) == big.data

    run(tmp_path, body)


def test_open_sweeps_orphan_and_temp_files(tmp_path: Path) -> None:
    kept = message("kept", pad=BIG)

    async def first(store: SqliteStore) -> None:
        bob = await new_user(store)
        await store.deliver(kept, [DeliveryTarget(bob.id)])

    run(tmp_path, first)
    root = tmp_path / "blobs"
    orphan = blobs.blob_id_of(b"orphan")
    blobs.write_blob_file(root, orphan, b"orphan")
    temp = blobs.blob_path(root, orphan).parent / f"{blobs.TEMP_PREFIX}{orphan}-1234"
    temp.write_bytes(b"half")

    async def second(store: SqliteStore) -> int:
        return store.swept_files

    assert run(tmp_path, second) == 2
    assert blob_files(tmp_path) == {blobs.blob_id_of(kept.data)}
    assert integrity_problems(tmp_path) == []


def test_schema_version_and_pragmas(tmp_path: Path) -> None:
    async def body(store: SqliteStore) -> None:
        await store.add_domain("example.org")

    run(tmp_path, body)
    run(tmp_path, _noop)  # reopen: no migration needed
    conn = sqlite3.connect(tmp_path / DB_FILE)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (LATEST_VERSION,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


async def _noop(store: SqliteStore) -> None:
    assert await store.list_domains() == ["example.org"]


def test_uid_list_is_one_primary_key_range(tmp_path: Path) -> None:
    run(tmp_path, _noop_open)
    conn = sqlite3.connect(tmp_path / DB_FILE)
    try:
        plan = " ".join(str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {UID_LIST_SQL}",
                                                          (1,)))
    finally:
        conn.close()
    assert "USING PRIMARY KEY (mailbox_id=?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


async def _noop_open(store: SqliteStore) -> None:
    return None


def test_uid_list_of_100k_messages_is_fast(tmp_path: Path) -> None:
    async def setup(store: SqliteStore) -> int:
        bob = await new_user(store)
        await store.deliver(message(), [DeliveryTarget(bob.id)])
        return await mailbox_id(store, bob)

    inbox = run(tmp_path, setup)
    conn = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
    try:  # 100k rows sharing the blob, inserted behind the store's back for speed
        conn.execute("BEGIN")
        conn.execute(
            "WITH RECURSIVE n (uid) AS (SELECT 2 UNION ALL SELECT uid + 1 FROM n"
            " WHERE uid < 100000) INSERT INTO messages SELECT mailbox_id, n.uid, modseq,"
            " CASE n.uid % 2 WHEN 1 THEN '\\Seen' ELSE '' END, internaldate, savedate, size,"
            " blob_id FROM n, messages WHERE mailbox_id = ? AND messages.uid = 1",
            (inbox,),
        )
        conn.execute("UPDATE mailboxes SET uidnext = 100001 WHERE id = ?", (inbox,))
        conn.execute("COMMIT")
    finally:
        conn.close()

    async def listing(store: SqliteStore) -> float:
        started = time.perf_counter()
        listed = await store.uid_list(inbox)
        elapsed = time.perf_counter() - started
        assert len(listed) == 100_000
        assert listed[-1].uid == 100_000
        return elapsed

    assert run(tmp_path, listing) < 2.0


def test_errors_are_mapped() -> None:
    assert isinstance(map_error(sqlite3.OperationalError("disk I/O error")), StorageFailure)
    assert isinstance(map_error(OSError(28, "No space left on device")), StorageFailure)
    failure = map_error(sqlite3.DatabaseError("database disk image is malformed"))
    assert isinstance(failure.__cause__, sqlite3.DatabaseError)


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    async def body() -> None:
        store = sqlite_store(tmp_path)
        with pytest.raises(StorageFailure):
            await store.add_domain("example.org")
        await store.open()
        await store.close()
        with pytest.raises(StorageFailure):
            await store.add_domain("example.org")
        with pytest.raises(StorageFailure):
            await store.list_domains()
        await store.open()  # the same instance can be opened again
        await store.add_domain("example.org")
        assert await store.list_domains() == ["example.org"]
        await store.close()

    asyncio.run(body())


def test_writer_isolates_a_job_that_hits_an_sqlite_error(tmp_path: Path) -> None:
    conn = connect(tmp_path / "w.sqlite3")
    conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    writer = GroupCommitWriter(conn, blob_root=tmp_path, clock=lambda: datetime.now(UTC))
    writer.start()
    published: list[object] = []

    def insert(x: int) -> Callable[[WriteContext], int]:
        def job(ctx: WriteContext) -> int:
            ctx.conn.execute("INSERT INTO t (x) VALUES (?)", (x,))
            return x

        return job

    def broken(ctx: WriteContext) -> None:
        ctx.conn.execute("INSERT INTO t (x) VALUES (3)")  # rolled back with its job
        ctx.conn.execute("INSERT INTO no_such_table VALUES (1)")

    async def body() -> list[object]:
        jobs: list[Awaitable[object]] = [
            writer.submit(insert(x), publish=published.append) for x in (1, 2)
        ]
        jobs.append(writer.submit(broken, publish=published.append))
        jobs.append(writer.submit(insert(1), publish=published.append))  # duplicate key
        return await asyncio.gather(*jobs, return_exceptions=True)

    try:
        one, two, failure, duplicate = asyncio.run(body())
    finally:
        writer.stop()
    try:
        assert (one, two) == (1, 2)
        assert isinstance(failure, StorageFailure)
        assert isinstance(duplicate, AlreadyExists)
        assert conn.execute("SELECT x FROM t ORDER BY x").fetchall() == [(1,), (2,)]
    finally:
        conn.close()


def test_checkpoints_run_off_the_writer_thread(tmp_path: Path) -> None:
    async def body(store: SqliteStore) -> None:
        assert query(tmp_path, "PRAGMA wal_autocheckpoint") == [(1000,)]  # a fresh connection
        bob = await new_user(store)
        for n in range(20):
            await store.deliver(message(f"message {n}", pad=50_000), [DeliveryTarget(bob.id)])
        for _ in range(500):  # bounded: the checkpointer runs within ~0.25 s of a commit
            if store.wal_checkpoints:
                break
            await asyncio.sleep(0.02)
        assert store.wal_checkpoints > 0

    run(tmp_path, body)
    assert integrity_problems(tmp_path) == []
    assert len(query(tmp_path, "SELECT 1 FROM messages")) == 20


def test_the_wal_starts_over_under_steady_writes(tmp_path: Path) -> None:
    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        for n in range(400):  # about 13 WAL pages each: 20 MiB if the WAL never restarted
            await store.deliver(message(f"message {n}"), [DeliveryTarget(bob.id)])
        assert (tmp_path / (DB_FILE + "-wal")).stat().st_size < 8 << 20

    run(tmp_path, body)
    assert integrity_problems(tmp_path) == []


def test_a_version_2_database_gets_the_scram_column(tmp_path: Path) -> None:
    """An old data dir opens: its accounts keep working, without SCRAM secrets until their
    next password login fills them in."""
    tmp_path.mkdir(exist_ok=True)
    conn = connect(tmp_path / DB_FILE)
    for script in MIGRATIONS[:2]:
        for stmt in script.split(";"):
            if stmt.strip():
                conn.execute(stmt)
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO domains (name) VALUES ('example.org')")
    conn.execute("INSERT INTO users (address, domain, password_hash)"
                 " VALUES ('old@example.org', 'example.org', 'h')")
    conn.close()

    async def body(store: SqliteStore) -> None:
        old = await store.get_user("old@example.org")
        assert old is not None
        assert old.scram_secrets is None
        assert await store.fill_scram_secrets(old.id, "S", password_hash="h")
        assert (await store.get_user("old@example.org")) == replace(old, scram_secrets="S")

    run(tmp_path, body)
    assert query(tmp_path, "PRAGMA user_version") == [(LATEST_VERSION,)]
    assert integrity_problems(tmp_path) == []


def test_a_version_5_database_gets_the_metadata_table(tmp_path: Path) -> None:
    """A v5 data dir (before RFC 5464 METADATA) opens, keeps its mail, and stores entries."""
    async def fill(store: SqliteStore) -> None:
        bob = await new_user(store)
        await store.deliver(message("old mail"), [DeliveryTarget(bob.id)])

    run(tmp_path, fill)
    conn = connect(tmp_path / DB_FILE)
    conn.executescript(UNDO_V9 + " DROP TABLE metadata; ALTER TABLE users DROP COLUMN role;"
                       " ALTER TABLE users DROP COLUMN disabled;"
                       " ALTER TABLE expunged DROP COLUMN blob_id; PRAGMA user_version = 5;")
    conn.close()

    async def body(store: SqliteStore) -> None:
        bob = await store.get_user("bob@example.org")
        assert bob is not None
        inbox = await mailbox_id(store, bob)
        assert len(await store.uid_list(inbox)) == 1
        await store.set_metadata(bob.id, inbox, [("/private/comment", b"new")], max_entries=10)
        assert await store.get_metadata(bob.id, inbox, ["/private/comment"]) == [
            ("/private/comment", b"new")]

    run(tmp_path, body)
    assert query(tmp_path, "PRAGMA user_version") == [(LATEST_VERSION,)]
    assert integrity_problems(tmp_path) == []


def test_a_version_6_database_gets_roles(tmp_path: Path) -> None:
    """A v6 data dir (before roles) opens: its accounts are plain, enabled users and can be
    made admins."""
    async def fill(store: SqliteStore) -> None:
        await new_user(store)

    run(tmp_path, fill)
    conn = connect(tmp_path / DB_FILE)
    conn.executescript(UNDO_V9 + " ALTER TABLE users DROP COLUMN role;"
                       " ALTER TABLE users DROP COLUMN disabled;"
                       " ALTER TABLE expunged DROP COLUMN blob_id;"
                       " PRAGMA user_version = 6;")
    conn.close()

    async def body(store: SqliteStore) -> None:
        (bob,) = await store.list_users()
        assert (bob.role, bob.disabled) == ("user", False)
        assert (await store.set_user_options(bob.address, role="admin")).role == "admin"

    run(tmp_path, body)
    assert query(tmp_path, "PRAGMA user_version") == [(LATEST_VERSION,)]
    assert LATEST_VERSION == 10  # the SQL above undoes every version after 6
    assert integrity_problems(tmp_path) == []


def test_a_version_7_database_keeps_its_tombstones_without_content(tmp_path: Path) -> None:
    """v8 adds the blob id to tombstones; those made before have none (JMAP then asks the
    client to resynchronise), and new ones carry it."""
    async def fill(store: SqliteStore) -> None:
        bob = await new_user(store)
        for text in ("one", "two"):
            await store.deliver(message(text), [DeliveryTarget(bob.id)])
        await store.delete_messages(await mailbox_id(store, bob), [1])

    run(tmp_path, fill)
    conn = connect(tmp_path / DB_FILE)
    conn.executescript(UNDO_V9 + " ALTER TABLE expunged DROP COLUMN blob_id;"
                       " PRAGMA user_version = 7;")
    conn.close()

    async def body(store: SqliteStore) -> None:
        bob = await store.get_user("bob@example.org")
        assert bob is not None
        inbox = await mailbox_id(store, bob)
        assert (await store.expunged_content_since(inbox, 0)).entries == ((1, None),)
        (two,) = await store.fetch_meta(inbox, [2])
        await store.delete_messages(inbox, [2])
        assert (await store.expunged_content_since(inbox, 0)).entries == (
            (1, None), (2, two.blob_id))

    run(tmp_path, body)
    assert query(tmp_path, "PRAGMA user_version") == [(LATEST_VERSION,)]
    assert integrity_problems(tmp_path) == []
