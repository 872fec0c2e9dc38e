"""The SQLite store as app.py builds it, given posthouse.message's parse, for tests."""

from __future__ import annotations

from pathlib import Path

from posthouse.message.summary import message_text, summarize
from posthouse.store.sqlite.backend import SqliteStore


def sqlite_store(data_dir: Path, *, auto_index: bool = True) -> SqliteStore:
    """A new, unopened SqliteStore on ``data_dir`` (see app.build_store)."""
    return SqliteStore(data_dir, summarize=summarize, message_text=message_text,
                       auto_index=auto_index)
