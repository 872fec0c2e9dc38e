"""The core of SqliteStore: lifecycle, the writer thread, the reader pool and blob files.

Writes become jobs for the group-commit writer (writer.py); reads run on a small pool of
read-only connections (readers.py). Large blobs are written to files by an I/O pool before
their transaction is submitted, so many deliveries write their files in parallel and then
share one commit.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from posthouse.message.summary_model import MessageSummary, Summarizer, TextExtractor
from posthouse.net.siblings import SiblingLink
from posthouse.store import blobs
from posthouse.store.errors import NotFound, StorageFailure, StorageFull
from posthouse.store.events import EventHub, StoreEvent, Subscription
from posthouse.store.models import NewMessage
from posthouse.store.siblings import EventRelay
from posthouse.store.space import SpaceGuard, is_full_error
from posthouse.store.sqlite import blobrefs, holds, messages, schema, searchdb
from posthouse.store.sqlite.checkpointer import Checkpointer
from posthouse.store.sqlite.indexer import SearchIndexer
from posthouse.store.sqlite.listings import ListingCache
from posthouse.store.sqlite.readers import DEFAULT_READERS, ReaderPool
from posthouse.store.sqlite.writer import GroupCommitWriter, WriteContext, WriteStats

T = TypeVar("T")
DEFAULT_IO_THREADS = 4
PARSE_INLINE_LIMIT = 256 * 1024  # larger messages are parsed in a worker thread
SUMMARY_RETRY_FIRST = 1.0  # a summary the full disk refused is filed again after this ...
SUMMARY_RETRY_MAX = 60.0  # ... doubling up to this


def _utcnow() -> datetime:
    return datetime.now(UTC)


class StoreCore:
    """Lifecycle and plumbing shared by the facade classes of SqliteStore."""

    def __init__(
        self,
        data_dir: Path,
        *,
        summarize: Summarizer,
        message_text: TextExtractor,
        hub: EventHub | None = None,
        readers: int = DEFAULT_READERS,
        io_threads: int = DEFAULT_IO_THREADS,
        clock: Callable[[], datetime] = _utcnow,
        auto_index: bool = True,
        space: SpaceGuard | None = None,
        observe_commit: Callable[[float], None] | None = None,
        siblings: SiblingLink | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.siblings = siblings  # the other worker processes of this server (backend.py)
        self._observe_commit = observe_commit  # seconds per commit, for the metrics
        # The low-space threshold (app.py gives the configured one); by default it is off and
        # only a real "disk full" refuses mail.
        self.space = space if space is not None else SpaceGuard(self.data_dir, min_free_bytes=0)
        self.db_path = self.data_dir / schema.DB_FILE
        self.search_path = self.data_dir / searchdb.SEARCH_DB_FILE
        self.blob_root = self.data_dir / "blobs"
        self.hub = hub if hub is not None else EventHub()
        # local commits' events go here (with siblings: relayed to them too)
        self._publish: Callable[[StoreEvent], None] = self.hub.publish
        self.listings = ListingCache()  # big mailboxes' uid_list, reused while unchanged
        self._summarize = summarize  # the MIME parse, given: the store never imports it
        self._message_text = message_text  # for the indexer
        self._clock = clock
        # False (admin commands, tests): index only on catch_up_index, and leave the repair
        # of summaries a crash left out (open()) to the server
        self._auto_index = auto_index
        self._readers = ReaderPool(self.db_path, search_path=self.search_path, size=readers)
        self._io_threads = io_threads
        self._io: ThreadPoolExecutor | None = None
        self._writer: GroupCommitWriter | None = None
        self._writer_conn: sqlite3.Connection | None = None
        self._indexer: SearchIndexer | None = None
        self._checkpointer: Checkpointer | None = None
        self._trigram = False
        self.swept_files = 0  # orphan blob files removed by the last open()
        self.repaired_summaries = 0  # summaries the last open() had to make (after a crash)
        # Summaries of stored messages not committed yet (_write_message): reads that need
        # summaries wait for them, so a message never shows without its parse.
        self._summary_jobs: set[asyncio.Future[None]] = set()
        self.holds = holds.ViewHolds()  # expunged messages open IMAP views still address
        self.recounted_blobs = 0  # blobs the last open() freed (held when the server stopped)

    # --- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        """Create or migrate the schema, sweep orphan blob files, start writer and readers."""
        if self._writer is not None:
            return
        try:
            await asyncio.to_thread(self._open_sync)
        except (OSError, sqlite3.Error, RuntimeError) as exc:
            raise StorageFailure(f"cannot open store: {exc}") from exc

    def _open_sync(self) -> None:
        self.blob_root.mkdir(parents=True, exist_ok=True)
        conn = schema.connect(self.db_path)
        try:
            schema.migrate(conn, backup_dir=self.data_dir / schema.BACKUP_DIR,
                           now=self._clock())
            self._trigram = searchdb.prepare_search_file(self.search_path, schema.store_id(conn))
            if self._auto_index:  # a server, not an admin command: it scans every message
                self.repaired_summaries = _repair_summaries(conn, self.blob_root, self._clock(),
                                                            self._summarize)
                # only a server: an admin command may run beside one that holds references
                self.recounted_blobs = _recount(conn, self.blob_root, self._clock())
            if self.siblings is None or self.siblings.index == 0:
                # not beside a running sibling: its fresh blob files are not referenced yet
                referenced = blobrefs.file_blob_ids(conn)
                self.swept_files = blobs.sweep(self.blob_root, referenced.__contains__)
            self._readers.open()
        except BaseException:
            conn.close()
            raise
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer's job
        self._writer_conn = conn
        indexer = self._indexer = SearchIndexer(self.db_path, self.search_path, self.blob_root,
                                                message_text=self._message_text,
                                                auto=self._auto_index, space=self.space)
        checkpointer = self._checkpointer = Checkpointer(self.db_path, space=self.space)

        def on_commit(new_summaries: int) -> None:
            checkpointer.committed()
            indexer.committed(new_summaries)

        shared_lock = (self.siblings.run_dir / "writer.lock"
                       if self.siblings is not None else None)
        self._writer = GroupCommitWriter(conn, blob_root=self.blob_root, clock=self._clock,
                                         on_commit=on_commit, space=self.space,
                                         observe_commit=self._observe_commit,
                                         shared_lock=shared_lock,
                                         after_batch=self.holds.settle)
        if self.siblings is not None:
            relay = EventRelay(self.siblings, self.hub,
                               indexer.committed if self._auto_index else None)
            self._publish = relay.publish
        self._writer.start()
        indexer.start()
        checkpointer.start()
        self._io = ThreadPoolExecutor(self._io_threads, thread_name_prefix="posthouse-blob-io")

    async def close(self) -> None:
        """Finish pending writes, then release threads and connections."""
        await asyncio.to_thread(self._close_sync)

    def _close_sync(self) -> None:
        if self._writer is not None:
            self._writer.stop()
            self._writer = None
        if self._indexer is not None:
            self._indexer.stop()
            self._indexer = None
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        if self._io is not None:
            self._io.shutdown(wait=True)
            self._io = None
        self._readers.close()
        if self._writer_conn is not None:
            self._writer_conn.close()
            self._writer_conn = None

    def has_room(self, size: int = 0) -> bool:
        """Whether new mail of ``size`` bytes would be taken now (store/space.py)."""
        return self.space.has_room(size)

    @property
    def write_stats(self) -> WriteStats:
        """Group-commit counters (jobs, commits)."""
        if self._writer is None:
            raise StorageFailure("the store is not open")
        return self._writer.stats

    @property
    def wal_checkpoints(self) -> int:
        """Checkpoints the checkpointer thread has run since open (0 when closed)."""
        return 0 if self._checkpointer is None else self._checkpointer.checkpoints

    @property
    def indexer(self) -> SearchIndexer:
        """The search indexer (StorageFailure when the store is not open)."""
        if self._indexer is None:
            raise StorageFailure("the store is not open")
        return self._indexer

    def subscribe(self, user_id: int) -> Subscription:
        """Receive every committed change event of one user."""
        return self.hub.subscribe(user_id)

    # --- plumbing -----------------------------------------------------------------------------

    async def _write(
        self, fn: Callable[[WriteContext], T], *, fresh_blobs: tuple[str, ...] = ()
    ) -> T:
        if self._writer is None:
            raise StorageFailure("the store is not open")
        return await self._writer.submit(fn, publish=self._publish, fresh_blobs=fresh_blobs)

    async def _write_lazy(self, fn: Callable[[WriteContext], T]) -> T:
        """A write whose loss in a crash can be redone (writer.py ``lazy``): it commits
        without an fsync of its own when no durable job shares its batch."""
        if self._writer is None:
            raise StorageFailure("the store is not open")
        return await self._writer.enqueue(fn, publish=self._publish, lazy=True)

    async def _write_message(
        self, fn: Callable[[WriteContext], T], blob: messages.BlobIn, fresh: tuple[str, ...]
    ) -> T:
        return await self._enqueue_message(fn, blob, fresh)

    def _enqueue_message(
        self, fn: Callable[[WriteContext], T], blob: messages.BlobIn, fresh: tuple[str, ...]
    ) -> asyncio.Future[T]:
        """Run a job that stores ``blob``; without a summary, parse it after the commit.

        The parse starts as the job's COMMIT does (the writer's before_commit): on the event
        loop while the fsync runs, or in a thread for a large message. The summary is then
        filed in a lazy transaction. So the caller's answer (SMTP's 250, APPEND's OK) never
        waits for the parse, reads that need summaries wait for it (_summaries_filed), and
        after a crash in between open() files it."""
        if self._writer is None:
            raise StorageFailure("the store is not open")
        before_commit = None
        if blob.summary is None:
            def before_commit() -> None:  # on the event loop, during the COMMIT
                pending: asyncio.Future[None] | None
                if len(blob.data) > PARSE_INLINE_LIMIT:
                    pending = asyncio.ensure_future(self._parse_and_file(blob))
                else:
                    pending = self._file_summary(blob, self._summarize(blob.data))
                if pending is not None:
                    self._summary_jobs.add(pending)
                    pending.add_done_callback(self._summary_jobs.discard)
        return self._writer.enqueue(fn, publish=self._publish, fresh_blobs=fresh,
                                    before_commit=before_commit)

    async def _parse_and_file(self, blob: messages.BlobIn) -> None:
        """A large message's parse, in a worker thread, then its summary filed."""
        summary = await asyncio.to_thread(self._summarize, blob.data)
        job = self._file_summary(blob, summary)
        if job is not None:
            await asyncio.wait([job])  # its failure is handled by _summary_done

    def _file_summary(
        self, blob: messages.BlobIn, summary: MessageSummary
    ) -> asyncio.Future[None] | None:
        """Queue the lazy write of a summary; None when the store is closing (the next
        open() files it then)."""
        row = blobrefs.summary_row(summary)  # here, not in the writer: it only INSERTs
        return self._enqueue_summary(blob.blob_id, row, SUMMARY_RETRY_FIRST)

    def _enqueue_summary(
        self, blob_id: str, row: blobrefs.SummaryRow, retry_in: float
    ) -> asyncio.Future[None] | None:
        if self._writer is None:
            return None
        try:
            job = self._writer.enqueue(lambda ctx: blobrefs.add_summary(ctx, blob_id, row),
                                       publish=self._publish, lazy=True)
        except StorageFailure:
            return None
        job.add_done_callback(lambda done: self._summary_done(done, blob_id, row, retry_in))
        return job

    def _summary_done(self, done: asyncio.Future[None], blob_id: str,
                      row: blobrefs.SummaryRow, retry_in: float) -> None:
        """A summary the full disk refused is filed again later (every failure doubles the
        wait, up to SUMMARY_RETRY_MAX). Reads do not wait for the retry; open() files
        whatever is still missing."""
        if done.cancelled() or not isinstance(done.exception(), StorageFull):
            return
        asyncio.get_running_loop().call_later(
            retry_in, self._enqueue_summary, blob_id, row, min(2 * retry_in, SUMMARY_RETRY_MAX))

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._readers.run(fn)

    async def _summaries_filed(self) -> None:
        """Return once the summary of every delivery committed so far is committed too."""
        if self._summary_jobs:
            await asyncio.wait(list(self._summary_jobs))

    async def _lookup(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """One indexed single-row SELECT, done on the event loop thread (see run_point)."""
        return self._readers.run_point(fn)

    async def _blob_in(
        self, message: NewMessage | bytes
    ) -> tuple[messages.BlobIn, tuple[str, ...]]:
        """Hash the content; write a file-sized blob durably, off the event loop."""
        data = message if isinstance(message, bytes) else message.data
        summary = None if isinstance(message, bytes) else message.summary
        if summary is None and self.siblings is not None and not isinstance(message, bytes):
            # another worker may read the message right after its commit: the summary goes
            # into the same transaction (a large message is parsed off the event loop)
            summary = (self._summarize(data) if len(data) <= PARSE_INLINE_LIMIT
                       else await asyncio.to_thread(self._summarize, data))
        if blobs.is_inline(len(data)):
            return messages.BlobIn(blobs.blob_id_of(data), data, summary), ()
        if self._io is None:
            raise StorageFailure("the store is not open")
        loop = asyncio.get_running_loop()
        try:
            blob_id = await loop.run_in_executor(self._io, self._write_blob_file, data)
        except OSError as exc:
            if is_full_error(exc):
                self.space.note_full(exc)
                raise StorageFull(f"cannot write blob: {exc}") from exc
            raise StorageFailure(f"cannot write blob: {exc}") from exc
        return messages.BlobIn(blob_id, data, summary), (blob_id,)

    def _write_blob_file(self, data: bytes) -> str:
        blob_id = blobs.blob_id_of(data)
        blobs.write_blob_file(self.blob_root, blob_id, data)
        return blob_id


def _repair_summaries(conn: sqlite3.Connection, blob_root: Path, now: datetime,
                      summarize: Summarizer) -> int:
    """File the summaries a crash left out (between a delivery's commit and its summary's)."""
    missing = blobrefs.missing_summaries(conn)
    if not missing:
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        ctx = WriteContext(conn, blob_root, now)
        for blob_id in missing:
            try:
                data = blobrefs.read(conn, blob_root, blob_id)
            except (NotFound, OSError):
                continue  # unreadable content: nothing to parse
            blobrefs.ensure_summary(ctx, blob_id, blobrefs.summary_row(summarize(data)))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLITE_FULL may have rolled it back already
            conn.execute("ROLLBACK")
        raise
    return len(missing)


def _recount(conn: sqlite3.Connection, blob_root: Path, now: datetime) -> int:
    """Free the blobs whose references were held for IMAP views when the process stopped
    (holds.recount); their files go with the orphan sweep that follows."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        freed = holds.recount(WriteContext(conn, blob_root, now))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return freed
