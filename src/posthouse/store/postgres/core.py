"""The core of PostgresStore: lifecycle, transactions, events across nodes, blob intake.

Every call is one transaction on a pooled connection (pool.py); a mutating call returns
after its COMMIT (``synchronous_commit = on``) and then publishes its events to this node's
hub; the same events went out with NOTIFY inside the transaction, for the other nodes
(notify.py). The MIME parse is injected (app.py passes ``summarize`` and ``message_text``)
and runs before the transaction, in a worker thread for a large message, so the summary and
the search text are committed with the message.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg

from posthouse.message.summary_model import Summarizer, TextExtractor
from posthouse.store import blobs
from posthouse.store.errors import StorageFailure
from posthouse.store.events import EventHub, StoreEvent, Subscription
from posthouse.store.models import NewMessage
from posthouse.store.postgres import holds, notify, schema
from posthouse.store.postgres.blobrefs import PgBlobIn
from posthouse.store.postgres.pool import DEFAULT_POOL_SIZE, ConnectionPool, Tx, connect

T = TypeVar("T")
PARSE_INLINE_LIMIT = 256 * 1024  # larger messages are parsed in a worker thread


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _settled(task: asyncio.Future[Any]) -> None:
    """Mark a transaction's failure as seen (a cancelled caller never awaits it)."""
    if not task.cancelled():
        task.exception()


class PgCore:
    """Lifecycle and plumbing shared by the facade classes of PostgresStore."""

    def __init__(
        self,
        url: str,
        *,
        summarize: Summarizer,
        message_text: TextExtractor,
        hub: EventHub | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.url = url
        self.hub = hub if hub is not None else EventHub()
        self._summarize = summarize
        self._message_text = message_text
        self._clock = clock
        self._pool_size = pool_size
        self._pool: ConnectionPool | None = None
        self.node = uuid.uuid4().hex  # this process, in queue claims and notifications
        self._listener: notify.PgEventListener | None = None
        self.swept_views = 0  # views of dead nodes freed by the last open()
        self._inflight: set[asyncio.Future[Any]] = set()  # transactions running now

    async def open(self) -> None:
        """Create or migrate the schema, open the pool, LISTEN for other nodes' events."""
        if self._pool is not None:
            return
        try:
            conn = await connect(self.url)
            try:
                await schema.migrate(conn)
            finally:
                await conn.close()
            pool = ConnectionPool(self.url, self._pool_size)
            await pool.open()
            self._pool = pool
            listener = notify.PgEventListener(self.url, self.node, self.hub.publish,
                                              self._read)
            await listener.start()
            self._listener = listener
            self.swept_views = await self._read(holds.sweep_dead_views)
        except (psycopg.Error, OSError, schema.PgSchemaTooNew) as exc:
            await self.close()
            raise StorageFailure(f"cannot open store: {exc}") from exc

    async def close(self) -> None:
        """Let running transactions end, stop listening and close every connection."""
        if self._inflight:
            await asyncio.wait(list(self._inflight))
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def has_room(self, size: int = 0) -> bool:
        """PostgreSQL owns its disk: a full one fails the transaction (StorageFull)."""
        return True

    def subscribe(self, user_id: int) -> Subscription:
        """Receive every committed change event of one user (from any node)."""
        return self.hub.subscribe(user_id)

    def known_up_to(self, mailbox_id: int, modseq: int) -> None:
        """The baseline of the catch-up after a lost LISTEN connection (notify.py)."""
        if self._listener is not None:
            self._listener.known_up_to(mailbox_id, modseq)

    @property
    def listener(self) -> notify.PgEventListener:
        """The LISTEN side of this node (StorageFailure when the store is not open)."""
        if self._listener is None:
            raise StorageFailure("the store is not open")
        return self._listener

    @property
    def view_node(self) -> tuple[int, object]:
        """Who owns the views this node opens (its LISTEN connection)."""
        if self._listener is None:
            raise StorageFailure("the store is not open")
        return self._listener.identity

    async def _write(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """Run a job in one transaction, NOTIFY its events with it, publish them after."""
        if self._pool is None:
            raise StorageFailure("the store is not open")
        node = self.node

        async def job(tx: Tx) -> T:
            result = await fn(tx)
            for event in tx.events:
                await tx.run("SELECT pg_notify(%s, %s)", (notify.CHANNEL,
                                                          notify.encode(event, node)))
            return result

        task = self._track(self._pool.transaction(job, self._clock))
        try:
            result, events = await asyncio.shield(task)
        except asyncio.CancelledError:
            # The caller (its client went away) stops waiting, but the transaction is not
            # cut short: it commits or not as a whole, and its events are still published.
            task.add_done_callback(self._publish_late)
            raise
        # Published by the caller as it resumes, before anyone woken by the events runs (as
        # SQLite's writer does): a session's own follow-up (claiming \Recent for what it
        # appended) comes first.
        for event in events:
            self.hub.publish(event)
        return result

    def _publish_late(self, task: asyncio.Future[tuple[Any, list[StoreEvent]]]) -> None:
        if not task.cancelled() and task.exception() is None:
            for event in task.result()[1]:
                self.hub.publish(event)

    async def _read(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """Run reads in one transaction (they publish nothing); shielded like _write."""
        if self._pool is None:
            raise StorageFailure("the store is not open")
        result, _ = await asyncio.shield(self._track(self._pool.transaction(fn, self._clock)))
        return result

    def _track(self, work: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Run ``work`` in a task of its own that a cancelled caller leaves running (so a
        pooled connection is never left mid-transaction); close() waits for it."""
        task = asyncio.ensure_future(work)
        self._inflight.add(task)
        task.add_done_callback(_settled)
        task.add_done_callback(self._inflight.discard)
        return task

    async def _blob_in(self, message: NewMessage | bytes) -> PgBlobIn:
        """Hash the content and parse it (a queue entry needs no parse)."""
        if isinstance(message, bytes):
            return PgBlobIn(blobs.blob_id_of(message), message, None, None)
        data = message.data
        if len(data) > PARSE_INLINE_LIMIT:
            return await asyncio.to_thread(self._parse, message)
        return self._parse(message)

    def _parse(self, message: NewMessage) -> PgBlobIn:
        data = message.data
        summary = message.summary if message.summary is not None else self._summarize(data)
        return PgBlobIn(blobs.blob_id_of(data), data, summary, self._message_text(data))
