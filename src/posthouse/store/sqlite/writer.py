"""Group commit: one writer thread, one connection, many jobs per durable COMMIT.

Async callers submit a job (a synchronous function of a WriteContext) and await its future.
The writer takes every pending job (up to MAX_BATCH), runs them inside one ``BEGIN IMMEDIATE``
transaction, each in its own SAVEPOINT so a failing job is rolled back alone, then COMMITs
once (one fsync for the whole batch). Only after the commit are the futures resolved and each
job's events published, on the event loop thread of the caller.

Two extras serve delivery (facade_mail.deliver): a job may name a ``before_commit`` callback,
called on its event loop as the writer starts the COMMIT, so that the loop can do work of its
own while the fsync runs (it files the message's MIME summary); and a ``lazy`` job needs no
fsync of its own: a batch of lazy jobs only commits with synchronous=NORMAL, and its frames
become durable with the next commit or checkpoint (what it writes can be rebuilt after a
crash).

Disk full (SQLITE_FULL, ENOSPC) fails the jobs with StorageFull and tells the space guard
(store/space.py) once per batch. SQLite may already have rolled the transaction back by then
(https://sqlite.org/lang_transaction.html, "Response To Errors Within A Transaction"), so
ROLLBACK is only issued while ``in_transaction``. While space is tight the WAL is started over
after every idle commit and cut to TIGHT_WAL_BYTES, so it never holds the freed space.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from posthouse.store import blobs
from posthouse.store.errors import AlreadyExists, StorageFailure, StorageFull
from posthouse.store.events import StoreEvent
from posthouse.store.space import SpaceGuard, is_full_error

T = TypeVar("T")
MAX_BATCH = 256
# Commits after which the writer, when idle, finishes a checkpoint itself: SQLite starts the
# WAL over only when a write begins with every frame checkpointed, which a checkpoint running
# beside a busy writer never achieves (see checkpointer.py). Overwriting a WAL of stable size
# also makes each commit's fdatasync cheaper than appending to a growing file.
RESTART_EVERY = 64
# While space is tight, the WAL is truncated to this size when it starts over (journal_size_limit)
TIGHT_WAL_BYTES = 1 << 20


@dataclass(slots=True)
class WriteContext:
    """What a job sees: the writer's connection, where to put events and freed blobs."""

    conn: sqlite3.Connection
    blob_root: Path
    now: datetime
    events: list[StoreEvent] = field(default_factory=list)
    freed_blobs: set[str] = field(default_factory=set)  # file blobs to unlink after commit
    new_summaries: int = 0  # summaries added: work for the search indexer


@dataclass(slots=True)
class WriteStats:
    """Counters proving group commit: commits < jobs under concurrency."""

    jobs: int = 0
    commits: int = 0
    failed_jobs: int = 0
    largest_batch: int = 0


@dataclass(slots=True)
class _Job:
    fn: Callable[[WriteContext], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    publish: Callable[[StoreEvent], None]
    fresh_blobs: tuple[str, ...]  # file blobs written for this job before it was submitted
    before_commit: Callable[[], None] | None = None  # run on ``loop`` as the COMMIT starts
    lazy: bool = False  # durable with the next commit is enough (see the module docstring)
    events: list[StoreEvent] = field(default_factory=list)
    new_summaries: int = 0
    result: Any = None
    error: BaseException | None = None


def map_error(exc: BaseException) -> BaseException:
    """Only store errors escape: SQLite and OS errors become domain errors."""
    mapped: BaseException
    if isinstance(exc, sqlite3.IntegrityError):
        mapped = AlreadyExists(str(exc))
    elif is_full_error(exc):
        mapped = StorageFull(f"{type(exc).__name__}: {exc}")
    elif isinstance(exc, sqlite3.Error | OSError):
        mapped = StorageFailure(f"{type(exc).__name__}: {exc}")
    else:
        return exc  # a StoreError, or a bug that should stay loud
    mapped.__cause__ = exc
    return mapped


class GroupCommitWriter:
    """The single writer thread of a store."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        blob_root: Path,
        clock: Callable[[], datetime],
        on_commit: Callable[[int], None] | None = None,
        space: SpaceGuard | None = None,
        observe_commit: Callable[[float], None] | None = None,
        shared_lock: Path | None = None,
        after_batch: Callable[[], None] | None = None,
    ) -> None:
        self._conn = conn
        self._after_batch = after_batch  # told when a batch is committed or rolled back
        # Several worker processes on one data dir: this file's flock is held from BEGIN to
        # COMMIT, so the writers take turns at once instead of SQLite's busy-wait sleeps.
        self._shared_lock = (os.open(shared_lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                             if shared_lock is not None else None)
        self._observe_commit = observe_commit  # told how long each COMMIT (its fsync) took
        self._space = space  # told of a full disk; asked whether to keep the WAL small
        self._wal_limited = False  # journal_size_limit set for tight space
        self._on_commit = on_commit  # told of every commit and how many summaries it added
        self._blob_root = blob_root
        self._clock = clock
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # A daemon: a store never closed must not hang interpreter exit (nothing acknowledged
        # is lost, since a write is acknowledged only after its commit).
        self._thread = threading.Thread(
            target=self._run, name="posthouse-sqlite-writer", daemon=True
        )
        self._closed = False
        self._gate = threading.Lock()  # no job can slip in behind the stop sentinel
        self._since_restart = 0  # commits since the WAL last started over
        self.stats = WriteStats()

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    async def submit(
        self,
        fn: Callable[[WriteContext], T],
        *,
        publish: Callable[[StoreEvent], None],
        fresh_blobs: tuple[str, ...] = (),
    ) -> T:
        """Run ``fn`` in the next group commit; return its result once it is durable."""
        result: T = await self.enqueue(fn, publish=publish, fresh_blobs=fresh_blobs)
        return result

    def enqueue(
        self,
        fn: Callable[[WriteContext], T],
        *,
        publish: Callable[[StoreEvent], None],
        fresh_blobs: tuple[str, ...] = (),
        before_commit: Callable[[], None] | None = None,
        lazy: bool = False,
    ) -> asyncio.Future[T]:
        """Queue ``fn`` now (on the event loop); its future resolves after the commit."""
        loop = asyncio.get_running_loop()
        job = _Job(fn, loop, loop.create_future(), publish, fresh_blobs, before_commit, lazy)
        with self._gate:
            if self._closed:
                raise StorageFailure("the store is closed")
            self._queue.put(job)
        return job.future

    def stop(self) -> None:
        """Finish every job already submitted, then end the thread (blocking)."""
        with self._gate:
            if not self._closed:
                self._closed = True
                self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join()
        if self._shared_lock is not None:
            os.close(self._shared_lock)
            self._shared_lock = None

    # --- writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            jobs, stopping = self._take()
            if jobs:
                self._run_batch(jobs)
                self._let_wal_restart()

    def _take(self) -> tuple[list[_Job], bool]:
        first = self._queue.get()
        if first is None:
            return [], True
        jobs = [first]
        while len(jobs) < MAX_BATCH:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                return jobs, True
            jobs.append(nxt)
        return jobs, False

    def _run_batch(self, jobs: list[_Job]) -> None:
        # With other worker processes writing too, the transaction and the unlinking of the
        # files it freed happen under the shared lock: another process's job that found a
        # blob file present (blobrefs) commits before the unlink's check or after the unlink.
        if self._shared_lock is not None:
            fcntl.flock(self._shared_lock, fcntl.LOCK_EX)
        try:
            self._write_batch(jobs)
        finally:
            if self._shared_lock is not None:
                fcntl.flock(self._shared_lock, fcntl.LOCK_UN)
        self._count(jobs)
        self._settle(jobs)

    def _write_batch(self, jobs: list[_Job]) -> None:
        freed: set[str] = set()
        lazy = all(job.lazy for job in jobs)
        try:
            if lazy:
                self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("BEGIN IMMEDIATE")
            aborted = self._run_jobs(jobs, freed)
            if not aborted:
                self._before_commit(jobs)
                started = time.perf_counter()
                self._conn.execute("COMMIT")
                if self._observe_commit is not None:
                    self._observe_commit(time.perf_counter() - started)
                self._committed(jobs)
        except sqlite3.Error as exc:
            self._abort(jobs, exc)
        finally:
            if lazy:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA synchronous = FULL")
            if self._after_batch is not None:
                self._after_batch()
        self._note_full(jobs)
        self._collect_garbage(jobs, freed)

    def _run_jobs(self, jobs: list[_Job], freed: set[str]) -> bool:
        """Run each job in a savepoint; True if the whole transaction had to be abandoned.

        A batch of one needs no savepoint: its failure abandons the transaction, which
        holds nothing else."""
        now = self._clock()
        alone = len(jobs) == 1
        for job in jobs:
            ctx = WriteContext(self._conn, self._blob_root, now)
            if not alone:
                self._conn.execute("SAVEPOINT job")
            try:
                job.result = job.fn(ctx)
            except Exception as exc:
                job.error = map_error(exc)
                if alone or not self._rollback_savepoint():
                    self._abort(jobs, exc, keep=job)
                    return True
                continue
            if not alone:
                self._conn.execute("RELEASE job")
            job.events = ctx.events
            job.new_summaries = ctx.new_summaries
            freed |= ctx.freed_blobs
        return False

    def _before_commit(self, jobs: list[_Job]) -> None:
        """Hand each ``before_commit`` callback to its loop (it runs during the fsync)."""
        for job in jobs:
            if job.before_commit is not None and job.error is None:
                try:
                    job.loop.call_soon_threadsafe(job.before_commit)
                except RuntimeError:
                    continue  # that event loop is closed

    def _committed(self, jobs: list[_Job]) -> None:
        """Tell the listener (checkpointer, search indexer) about the commit."""
        if self._on_commit is not None:
            self._on_commit(sum(job.new_summaries for job in jobs if job.error is None))

    def _note_full(self, jobs: list[_Job]) -> None:
        """Tell the space guard once if a job of the batch failed for a full disk."""
        if self._space is None:
            return
        for job in jobs:
            if isinstance(job.error, StorageFull):
                self._space.note_full(job.error.__cause__ or job.error)
                return

    def _let_wal_restart(self) -> None:
        """Every RESTART_EVERY commits (every commit while space is tight), when no job
        waits: checkpoint the WAL's tail, so the next write starts it over."""
        self._since_restart += 1
        tight = self._space is not None and self._space.tight()
        if tight != self._wal_limited:
            # SQLite cuts the WAL to this size whenever it starts over (-1: never)
            limit = TIGHT_WAL_BYTES if tight else -1
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute(f"PRAGMA journal_size_limit = {limit}")
                self._wal_limited = tight
        every = 1 if tight else RESTART_EVERY
        if self._since_restart < every or not self._queue.empty():
            return
        try:
            busy, frames, done = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            return  # the checkpointer holds the checkpoint lock: try after the next commit
        if not busy and frames == done:
            self._since_restart = 0

    def _rollback_savepoint(self) -> bool:
        """Undo the current job alone; False if SQLite dropped the whole transaction."""
        if not self._conn.in_transaction:
            return False
        try:
            self._conn.execute("ROLLBACK TO job")
            self._conn.execute("RELEASE job")
        except sqlite3.Error:
            return False
        return True

    def _abort(self, jobs: list[_Job], exc: BaseException, *, keep: _Job | None = None) -> None:
        """The transaction is lost: every job fails (``keep`` keeps its own error)."""
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
        failure: StorageFailure
        if is_full_error(exc):
            failure = StorageFull(f"transaction aborted: {type(exc).__name__}: {exc}")
        else:
            failure = StorageFailure(f"transaction aborted: {type(exc).__name__}: {exc}")
        failure.__cause__ = exc
        for job in jobs:
            if job is not keep:
                job.error = failure
            job.result = None
            job.events = []

    def _collect_garbage(self, jobs: list[_Job], freed: set[str]) -> None:
        """Unlink blob files no committed row references any more.

        Candidates: blobs whose last reference a committed job dropped, and files written
        for jobs that failed. A row that still (or again) exists keeps its file; a job that
        creates a row for a file blob checks the file is there (writing it if not), so
        this never races with a concurrent writer of the same content.
        """
        candidates = set(freed)
        for job in jobs:
            if job.error is not None:
                candidates.update(job.fresh_blobs)
        for blob_id in candidates:
            try:
                row = self._conn.execute("SELECT 1 FROM blobs WHERE id = ?", (blob_id,))
                if row.fetchone() is None:
                    blobs.remove_blob_file(self._blob_root, blob_id)
            except (sqlite3.Error, OSError):
                continue  # left for the sweep at the next open

    def _count(self, jobs: list[_Job]) -> None:
        stats = self.stats
        stats.jobs += len(jobs)
        stats.commits += 1
        stats.failed_jobs += sum(1 for job in jobs if job.error is not None)
        stats.largest_batch = max(stats.largest_batch, len(jobs))

    def _settle(self, jobs: list[_Job]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        for job in jobs:
            by_loop.setdefault(job.loop, []).append(job)
        for loop, batch in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, batch)
            except RuntimeError:
                continue  # that event loop is closed: nobody is waiting


def _resolve(jobs: list[_Job]) -> None:
    """On the event loop: publish committed events, then wake the callers."""
    for job in jobs:
        for event in job.events:
            job.publish(event)
        if job.future.cancelled():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)
