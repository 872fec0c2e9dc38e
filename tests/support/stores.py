"""The SQLite and PostgreSQL stores as app.py builds them (given posthouse.message's parse),
for tests."""

from __future__ import annotations

from pathlib import Path

from posthouse.message.summary import message_text, summarize
from posthouse.store.postgres.backend import PostgresStore
from posthouse.store.sqlite.backend import SqliteStore


def sqlite_store(data_dir: Path, *, auto_index: bool = True) -> SqliteStore:
    """A new, unopened SqliteStore on ``data_dir`` (see app.build_store)."""
    return SqliteStore(data_dir, summarize=summarize, message_text=message_text,
                       auto_index=auto_index)


def postgres_store(url: str) -> PostgresStore:
    """A new, unopened PostgresStore on the database at ``url`` (see app.build_store)."""
    return PostgresStore(url, summarize=summarize, message_text=message_text)
