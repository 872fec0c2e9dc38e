"""The SQLite store's full-text index in its own file: built after the commit, kept right.

Deliveries never write the index; the indexer thread catches up (searchdb.py, indexer.py).
These tests look at both files directly.
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from pathlib import Path

from posthouse.message.summary_model import MessageSummary
from posthouse.store.models import DeliveryTarget, NewMessage
from posthouse.store.sqlite.backend import SqliteStore
from posthouse.store.sqlite.schema import DB_FILE, LATEST_VERSION, MIGRATIONS, connect
from posthouse.store.sqlite.searchdb import SEARCH_DB_FILE
from tests.backends.sqlite_checks import integrity_problems, query, run
from tests.backends.support import mailbox_id, message, new_user


def index_rows(data_dir: Path) -> set[int]:
    """The summary ids that have a row in the search file."""
    conn = sqlite3.connect(data_dir / SEARCH_DB_FILE)
    try:
        return {int(row[0]) for row in conn.execute("SELECT rowid FROM fts")}
    finally:
        conn.close()


def base64_message(text: str) -> NewMessage:
    """A message whose body text is only readable after decoding its transfer encoding;
    its summary carries no text: the index decodes the stored message itself."""
    raw = (
        "From: a@example.net\r\nSubject: coded\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(text.encode()).decode() + "\r\n"
    ).encode()
    return NewMessage(raw, MessageSummary("[]", "[]", {"subject": "coded"}), message().internaldate)


def test_delivery_leaves_the_index_to_the_indexer(tmp_path: Path) -> None:
    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        for n in range(5):
            await store.deliver(message(f"needle {n} in a haystack"), [DeliveryTarget(bob.id)])
        assert index_rows(tmp_path) == set()  # nothing indexed inside the delivery
        assert await store.search_text(inbox, "needle 3", field="body") == {4}
        await store.catch_up_index()
        assert len(index_rows(tmp_path)) == 5
        assert await store.search_text(inbox, "needle 3", field="body") == {4}
        assert await store.search_text(inbox, "haystack", field="body") == {1, 2, 3, 4, 5}

    run(tmp_path, body, auto_index=False)
    assert integrity_problems(tmp_path) == []


def test_indexer_runs_by_itself_once_the_store_is_quiet(tmp_path: Path) -> None:
    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        await store.deliver(message("quiet now"), [DeliveryTarget(bob.id)])
        for _ in range(500):  # bounded: the indexer waits ~0.2 s of quiet, then indexes
            if store.indexer.indexed:
                break
            await asyncio.sleep(0.02)
        assert store.indexer.indexed == 1

    run(tmp_path, body)
    assert len(index_rows(tmp_path)) == 1


def test_removed_messages_leave_the_index(tmp_path: Path) -> None:
    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        await store.deliver(message("first"), [DeliveryTarget(bob.id)])
        await store.deliver(message("second"), [DeliveryTarget(bob.id)])
        await store.catch_up_index()
        assert len(index_rows(tmp_path)) == 2
        await store.delete_messages(inbox, [1])
        assert await store.search_text(inbox, "first", field="body") == set()
        await store.catch_up_index()
        assert len(index_rows(tmp_path)) == 1
        assert query(tmp_path, "SELECT id FROM fts_gone") == []

    run(tmp_path, body, auto_index=False)
    assert integrity_problems(tmp_path) == []


def test_index_text_is_decoded_from_the_stored_message(tmp_path: Path) -> None:
    async def deliver(store: SqliteStore) -> int:
        bob = await new_user(store)
        await store.deliver(base64_message("Grüße aus Köln"), [DeliveryTarget(bob.id)])
        return await mailbox_id(store, bob)

    inbox = run(tmp_path, deliver, auto_index=False)  # closed before anything was indexed: the
    # next start picks the pending message up

    async def search(store: SqliteStore) -> None:
        # Pending: SEARCH decodes the stored message.
        assert await store.search_text(inbox, "KÖLN", field="body") == {1}
        await store.catch_up_index()
        assert await store.search_text(inbox, "grüße", field="body") == {1}

    run(tmp_path, search, auto_index=False)
    assert len(index_rows(tmp_path)) == 1


def test_a_lost_or_foreign_search_file_is_rebuilt(tmp_path: Path) -> None:
    async def fill(store: SqliteStore) -> int:
        bob = await new_user(store)
        await store.deliver(message("kept safe"), [DeliveryTarget(bob.id)])
        await store.catch_up_index()
        return await mailbox_id(store, bob)

    inbox = run(tmp_path, fill)
    (tmp_path / SEARCH_DB_FILE).unlink()

    async def search(store: SqliteStore) -> None:
        assert await store.search_text(inbox, "safe", field="body") == {1}
        await store.catch_up_index()

    run(tmp_path, search)
    assert len(index_rows(tmp_path)) == 1
    other = tmp_path / "other"
    run(other, fill)  # another store: its search file must not be taken for ours
    (tmp_path / SEARCH_DB_FILE).write_bytes((other / SEARCH_DB_FILE).read_bytes())
    for suffix in ("-wal", "-shm"):
        (tmp_path / (SEARCH_DB_FILE + suffix)).unlink(missing_ok=True)
    run(tmp_path, search)
    (tmp_path / SEARCH_DB_FILE).write_bytes(b"not a database at all" * 100)
    run(tmp_path, search)
    assert integrity_problems(tmp_path) == []


def test_a_version_1_database_is_migrated(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    conn = connect(tmp_path / DB_FILE)
    for stmt in MIGRATIONS[0].split(";"):
        if stmt.strip():
            conn.execute(stmt)
    conn.execute("PRAGMA user_version = 1")
    conn.close()

    async def body(store: SqliteStore) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        await store.deliver(message("after the upgrade"), [DeliveryTarget(bob.id)])
        assert await store.search_text(inbox, "upgrade", field="body") == {1}

    run(tmp_path, body)
    assert query(tmp_path, "PRAGMA user_version") == [(LATEST_VERSION,)]
    assert query(tmp_path, "SELECT name FROM sqlite_master WHERE name = 'fts'") == []
    assert integrity_problems(tmp_path) == []
