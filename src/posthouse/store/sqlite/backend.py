"""SqliteStore: the embedded backend of the store (``posthouse.store.api.Store``).

Construct with ``SqliteStore(data_dir, summarize=..., message_text=..., hub=..., readers=3,
io_threads=4, clock=..., auto_index=True, space=SpaceGuard(...))``, then
``await store.open()``; ``await store.close()`` finishes pending writes. The MIME parse is
injected (app.py passes posthouse.message.summary's ``summarize`` and ``message_text``): the
store never imports the parser. The database is ``<data_dir>/posthouse.sqlite3``, its index
``<data_dir>/search.sqlite3`` (searchdb.py); large blobs live under ``<data_dir>/blobs/``.
Besides the writer and the readers it runs the search indexer and the WAL checkpointer
threads (indexer.py, checkpointer.py) and a pool that writes large blobs. ``space`` holds the
low-space threshold (store/space.py); without it only a real "disk full" refuses mail.

``siblings`` (a net/siblings.py link): one of several worker processes of one server on
this data dir (``[server] workers``). Its events then cross to the others
(store/siblings.py), its writer takes the cross-process write lock around each transaction
(so there is still one writer at a time, each batching its own commits), every message's
summary is filed in the message's own transaction (another process may read it right after
the commit), and POP3's maildrop lock holds across processes. Only worker 0 (the primary)
repairs summaries, recounts and sweeps blobs at open, and indexes for search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from posthouse.store.maildrop_locks import (
    HeldMaildrop,
    LocalMaildropLocks,
    SharedMaildropLocks,
)
from posthouse.store.sqlite.facade_accounts import AccountsFacade
from posthouse.store.sqlite.facade_mail import MailboxesFacade, MessagesFacade
from posthouse.store.sqlite.facade_queue import QueueFacade

if TYPE_CHECKING:
    from posthouse.store.api import Store


class SqliteStore(AccountsFacade, MailboxesFacade, MessagesFacade, QueueFacade):
    """The whole store on SQLite: group-commit writer, reader pool, content-addressed blobs."""

    _maildrops: LocalMaildropLocks | None = None

    async def lock_maildrop(self, user_id: int) -> HeldMaildrop | None:
        """POP3's maildrop lock: in this process (one server per data dir), and against
        the server's other worker processes when it has several."""
        if self._maildrops is None:
            self._maildrops = (LocalMaildropLocks() if self.siblings is None else
                               SharedMaildropLocks(self.siblings.run_dir / "maildrops.lock"))
        return self._maildrops.try_acquire(user_id)


if TYPE_CHECKING:

    def _conforms(store: SqliteStore) -> Store:
        """mypy proves SqliteStore implements the Store protocol."""
        return store
