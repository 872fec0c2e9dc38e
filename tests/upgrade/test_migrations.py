"""Schema migrations at start-up: numbered, one transaction, a copy of the database kept
before any change, and a newer schema (a downgrade) refused with one clear line."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from posthouse.message.summary import message_text, summarize
from posthouse.store.errors import StorageFailure
from posthouse.store.sqlite.backend import SqliteStore
from posthouse.store.sqlite.schema import (
    BACKUP_DIR,
    DB_FILE,
    LATEST_VERSION,
    MIGRATIONS,
    NUMBERED,
    connect,
    statements,
)


def make_version(data: Path, version: int) -> None:
    """A database at ``version`` made by the migrations of that time, with one account."""
    data.mkdir(parents=True, exist_ok=True)
    conn = connect(data / DB_FILE)
    for n in range(1, version + 1):
        for stmt in statements(NUMBERED[n]):
            conn.execute(stmt)
        conn.execute(f"PRAGMA user_version = {n}")
    conn.execute("INSERT INTO domains (name) VALUES ('example.org')")
    conn.execute("INSERT INTO users (address, domain, password_hash)"
                 " VALUES ('old@example.org', 'example.org', 'h')")
    conn.close()


def open_and_close(data: Path) -> None:
    async def body() -> None:
        store = SqliteStore(data, summarize=summarize, message_text=message_text,
                            auto_index=False)
        await store.open()
        await store.close()

    asyncio.run(body())


def version_of(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_migrations_are_numbered_from_one() -> None:
    assert sorted(NUMBERED) == list(range(1, LATEST_VERSION + 1))
    assert tuple(NUMBERED[n] for n in range(1, LATEST_VERSION + 1)) == MIGRATIONS


@pytest.mark.parametrize("version", range(1, LATEST_VERSION))
def test_an_old_database_is_copied_then_migrated(tmp_path: Path, version: int) -> None:
    data = tmp_path / "data"
    make_version(data, version)
    open_and_close(data)
    assert version_of(data / DB_FILE) == LATEST_VERSION
    kept = list((data / BACKUP_DIR).glob(f"pre-v{LATEST_VERSION}-*.sqlite3"))
    assert len(kept) == 1
    assert version_of(kept[0]) == version  # the database as it was
    conn = sqlite3.connect(kept[0])
    assert conn.execute("SELECT address FROM users").fetchall() == [("old@example.org",)]
    conn.close()
    open_and_close(data)  # nothing to migrate: no second copy
    assert len(list((data / BACKUP_DIR).glob("*.sqlite3"))) == 1


def test_a_new_database_needs_no_copy(tmp_path: Path) -> None:
    open_and_close(tmp_path / "data")
    assert not (tmp_path / "data" / BACKUP_DIR).exists()


def test_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_version(data, LATEST_VERSION)
    conn = connect(data / DB_FILE)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    before = (data / DB_FILE).read_bytes()
    with pytest.raises(StorageFailure, match="downgrades are refused"):
        open_and_close(data)
    assert (data / DB_FILE).read_bytes() == before
    assert not (data / BACKUP_DIR).exists()
    proc = subprocess.run([sys.executable, "-m", "posthouse", "user", "list", "--data-dir",
                           str(data)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"database schema version {LATEST_VERSION + 1} is newer" in lines[0]
