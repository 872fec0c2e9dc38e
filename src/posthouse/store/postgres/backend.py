"""PostgresStore: the store on PostgreSQL (``posthouse.store.api.Store``), for one node or
several nodes sharing one database.

Construct with ``PostgresStore(url, summarize=..., message_text=..., hub=..., pool_size=4,
clock=...)``, then ``await store.open()`` (creates or migrates the schema, LISTENs for other
nodes' events); ``await store.close()``. The MIME parse is injected as for SqliteStore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from posthouse.store.postgres.facade_accounts import PgAccountsFacade
from posthouse.store.postgres.facade_mail import PgMailboxesFacade, PgMessagesFacade
from posthouse.store.postgres.facade_queue import PgQueueFacade

if TYPE_CHECKING:
    from posthouse.store.api import Store


class PostgresStore(PgAccountsFacade, PgMailboxesFacade, PgMessagesFacade, PgQueueFacade):
    """The whole store on PostgreSQL: pooled connections, bytea blobs, LISTEN/NOTIFY events."""


if TYPE_CHECKING:

    def _conforms(store: PostgresStore) -> Store:
        """mypy proves PostgresStore implements the Store protocol."""
        return store
