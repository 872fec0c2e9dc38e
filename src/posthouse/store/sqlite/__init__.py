"""The embedded SQLite backend of the store."""

from posthouse.store.sqlite.backend import SqliteStore

__all__ = ["SqliteStore"]
