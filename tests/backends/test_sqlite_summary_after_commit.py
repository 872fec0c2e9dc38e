"""A delivery without a summary: the store parses the message during the delivery's fsync and
files the summary in a lazy transaction after it; reads never see the message without it, and
open() files a summary a crash left out."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from posthouse.message.summary import summarize
from posthouse.store.models import DeliveryTarget, NewMessage
from posthouse.store.sqlite.backend import SqliteStore
from posthouse.store.sqlite.core import PARSE_INLINE_LIMIT
from posthouse.store.sqlite.schema import DB_FILE
from posthouse.store.sqlite.writer import WriteContext
from tests.backends.sqlite_checks import integrity_problems, query, run
from tests.backends.support import mailbox_id, new_user

RAW = (b"From: Alice <alice@example.net>\r\nTo: bob@example.org\r\nSubject: parsed later\r\n"
       b"Date: Wed, 1 May 2024 12:00:00 +0200\r\n\r\nThe body of the message.\r\n")
WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def _unparsed(raw: bytes = RAW) -> NewMessage:
    return NewMessage(raw, None, WHEN)


def test_summary_is_there_for_the_first_read_after_the_delivery(tmp_path: Path) -> None:
    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        box = await mailbox_id(store, bob)
        expected = summarize(RAW)
        for n in range(20):  # each read comes right after its delivery returned
            [(_, uid)] = await store.deliver(_unparsed(RAW + b"%d\r\n" % n),
                                             [DeliveryTarget(bob.id)])
            [meta] = await store.fetch_meta(box, [uid], with_summary=True)
            assert meta.summary is not None
            assert meta.summary.envelope == expected.envelope
            assert meta.summary.headers["subject"] == "parsed later"
            assert uid in await store.search_text(box, "parsed later", field="subject")
            assert uid in await store.search_text(box, "body of the", field="body")

    run(tmp_path, body)
    assert integrity_problems(tmp_path) == []


def test_the_summary_transaction_is_lazy_and_full_sync_comes_back(tmp_path: Path) -> None:
    async def body(store: SqliteStore) -> tuple[int, int]:
        bob = await new_user(store)
        before = store.write_stats.commits
        await store.deliver(_unparsed(), [DeliveryTarget(bob.id)])
        await store._summaries_filed()
        commits = store.write_stats.commits - before
        level = await store._write(
            lambda ctx: int(ctx.conn.execute("PRAGMA synchronous").fetchone()[0]))
        return commits, level

    commits, level = run(tmp_path, body)
    assert commits == 2  # the delivery, then its summary
    assert level == 2  # FULL again for every later transaction


def test_concurrent_deliveries_all_get_their_summaries(tmp_path: Path) -> None:
    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        await asyncio.gather(*(
            store.deliver(_unparsed(RAW + b"%d\r\n" % n), [DeliveryTarget(bob.id)])
            for n in range(60)))

    run(tmp_path, body)
    assert integrity_problems(tmp_path) == []
    assert query(tmp_path, "SELECT count(*) FROM summaries") == [(60,)]


def test_a_message_deleted_before_its_summary_leaves_none_behind(tmp_path: Path) -> None:
    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        box = await mailbox_id(store, bob)
        [(_, uid)] = await store.deliver(_unparsed(), [DeliveryTarget(bob.id)])
        await store.delete_messages(box, [uid])  # may run before the summary job

    run(tmp_path, body)
    assert integrity_problems(tmp_path) == []
    assert query(tmp_path, "SELECT count(*) FROM summaries") == [(0,)]


def test_open_files_a_summary_a_crash_left_out(tmp_path: Path) -> None:
    async def deliver(store: SqliteStore) -> None:
        bob = await new_user(store)
        await store.deliver(_unparsed(), [DeliveryTarget(bob.id)])

    run(tmp_path, deliver)
    # The crash: the delivery committed, its summary did not.
    conn = sqlite3.connect(tmp_path / DB_FILE)
    with conn:
        conn.execute("DELETE FROM summaries")
    conn.close()
    assert integrity_problems(tmp_path) != []

    async def reopen(store: SqliteStore) -> int:
        bob = await store.get_user("bob@example.org")
        assert bob is not None
        [meta] = await store.fetch_meta(await mailbox_id(store, bob), [1], with_summary=True)
        assert meta.summary is not None
        assert meta.summary.headers["subject"] == "parsed later"
        box = await mailbox_id(store, bob)
        assert await store.search_text(box, "ALICE <", field="from") == {1}  # its address row
        return store.repaired_summaries

    assert run(tmp_path, reopen) == 1
    assert integrity_problems(tmp_path) == []


def test_before_commit_runs_on_the_loop_before_the_future_resolves(tmp_path: Path) -> None:
    async def body(store: SqliteStore) -> list[str]:
        seen: list[str] = []
        writer = store._writer
        assert writer is not None

        def job(ctx: WriteContext) -> None:
            seen.append("job")

        fut = writer.enqueue(job, publish=lambda _e: None,
                             before_commit=lambda: seen.append("before commit"))
        fut.add_done_callback(lambda _f: seen.append("resolved"))
        await fut
        return seen

    assert run(tmp_path, body) == ["job", "before commit", "resolved"]


def test_append_without_summary_and_a_large_message_parsed_in_a_thread(tmp_path: Path) -> None:
    big = RAW + b"x" * (PARSE_INLINE_LIMIT + 10) + b"\r\n"

    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        box = await mailbox_id(store, bob)
        _, appended = await store.append(box, _unparsed())
        [(_, delivered)] = await store.deliver(_unparsed(big), [DeliveryTarget(bob.id)])
        metas = await store.fetch_meta(box, [appended, delivered], with_summary=True)
        assert [m.uid for m in metas] == [appended, delivered]
        for meta in metas:
            assert meta.summary is not None
            assert meta.summary.headers["subject"] == "parsed later"

    run(tmp_path, body)
    assert integrity_problems(tmp_path) == []
