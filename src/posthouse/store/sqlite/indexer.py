"""The search indexer: one thread that brings the search file (searchdb.py) up to the store.

The writer tells it of each commit (``committed``). Once the store has been quiet for
QUIET_SECONDS, new summaries go into the index in batches, in summary-id order, with the
body text decoded from the stored message here (by the ``message_text`` the store was given):
neither the delivery nor its 250 pays for text extraction or FTS5. Under sustained load the
index still moves once the oldest pending summary has waited MAX_LAG_SECONDS (then at most a
fifth of the time: REST_FACTOR), and a SEARCH (``urge``) asks for it at once. Removed
summaries (``fts_gone``) lose their index rows here too.

Indexing never holds the store's write lock, so deliveries do not wait for it; decoding the
text is Python work (it holds the GIL), which is why it waits for a quiet moment.

Mail comes first on disk too: while space is tight (store/space.py) the indexer does not
index (SEARCH scans what is pending, so answers stay right), truncates its WAL, and looks again
after a pause that doubles from BACKOFF_MIN to BACKOFF_MAX; a failed batch (a full disk, an
I/O error) backs off the same way and is logged once per run of failures, not per retry.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from posthouse.message.summary_model import TextExtractor
from posthouse.store.errors import NotFound
from posthouse.store.space import SpaceGuard, is_full_error
from posthouse.store.sqlite import blobrefs, schema, searchdb
from posthouse.store.sqlite.codec import headers_text

QUIET_SECONDS = 0.2
MAX_LAG_SECONDS = 30.0
# Past MAX_LAG_SECONDS under load, a batch is followed by a rest this many times as long:
# the index keeps moving without taking more than a fifth of the interpreter from the mail.
REST_FACTOR = 4.0
BATCH_ROWS = 256
BATCH_CHARS = 1 << 20  # text per index transaction: bounds how long one commit takes
GONE_BATCH = 1000
BACKOFF_MIN = 1.0  # after a failed batch, or while space is tight: first pause
BACKOFF_MAX = 300.0  # pauses double up to this
log = logging.getLogger("posthouse.store")


class SearchIndexer:
    """The indexer thread of one store."""

    def __init__(
        self,
        db_path: Path,
        search_path: Path,
        blob_root: Path,
        *,
        message_text: TextExtractor,
        auto: bool = True,
        clock: Callable[[], float] = time.monotonic,
        space: SpaceGuard | None = None,
    ) -> None:
        self._db_path = db_path
        self._search_path = search_path
        self._blob_root = blob_root
        self._message_text = message_text  # given: the store never imports the parser
        self._auto = auto  # False: index only when asked (urge, catch_up)
        self._clock = clock
        self._space = space  # None: never waits for space
        self._backoff = 0.0  # the last pause (0: the last batch went well)
        self._hold_until = float("-inf")  # no batch before (a pause)
        self._shrunk = False  # the search WAL was truncated during this pause
        self._cond = threading.Condition()
        self._dirty = True  # there may be pending summaries (there may be some at start)
        self._generation = 0  # bumped whenever new work may have appeared
        self._urged = False
        self._last_commit = float("-inf")
        self._behind_since: float | None = None
        self._rest_until = float("-inf")  # after a batch forced by the lag, no next one before
        self._waiters: list[concurrent.futures.Future[None]] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="posthouse-indexer", daemon=True)
        self.indexed = 0  # summaries indexed by this instance (for tests and status)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """End the thread after its current batch (blocking); pending work waits for the
        next start."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join()
        with self._cond:
            for waiter in self._waiters:
                waiter.cancel()
            self._waiters.clear()

    # --- called from other threads ----------------------------------------------------------

    def committed(self, new_summaries: int) -> None:
        """The writer committed, adding ``new_summaries`` summaries (writer thread)."""
        now = self._clock()
        with self._cond:
            self._last_commit = now
            if not new_summaries:
                return
            was_dirty, self._dirty = self._dirty, True
            self._generation += 1
            if self._behind_since is None:
                self._behind_since = now
            if not was_dirty:
                # Already dirty, the thread waits for quiet and reads _last_commit when that
                # wait ends: waking it per commit would only make it compete for the GIL.
                self._cond.notify()

    def urge(self) -> None:
        """Index what is pending now, however busy the store is."""
        with self._cond:
            self._urged = True
            self._cond.notify()

    def catch_up(self) -> concurrent.futures.Future[None]:
        """A future done once everything committed before this call is indexed."""
        waiter: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._cond:
            if self._stopping:
                waiter.cancel()
                return waiter
            self._waiters.append(waiter)
            self._hold_until = float("-inf")  # asked for explicitly: no pause
            self._urged = self._dirty = True
            self._generation += 1
            self._cond.notify()
        return waiter

    def text_for(self, conn: sqlite3.Connection, blob_id: str) -> str:
        """The searchable body text of a stored message ("" if it is gone)."""
        try:
            return self._message_text(blobrefs.read(conn, self._blob_root, blob_id))
        except NotFound:
            return ""  # removed meanwhile: nothing to find in it

    # --- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        main = schema.connect(self._db_path)
        search = searchdb.connect_search(self._search_path)
        try:
            while (generation := self._wait_for_work()) is not None:
                if self._must_wait_for_space():
                    self._shrink(search)
                    self._pause()
                    continue
                started = self._clock()
                try:
                    if (self._index_batch(main, search) == 0
                            and self._drop_gone(main, search) < GONE_BATCH):
                        self._caught_up(generation)
                    self._rest_after(started)
                except (sqlite3.Error, OSError) as exc:
                    self._failed(exc, search)
                else:
                    self._backoff, self._shrunk = 0.0, False
        finally:
            main.close()
            search.close()

    def _must_wait_for_space(self) -> bool:
        """Space is tight and nobody waits for the index (catch_up): mail comes first."""
        if self._space is None or not self._space.tight():
            return False
        with self._cond:
            return not self._waiters

    def _failed(self, exc: BaseException, search: sqlite3.Connection) -> None:
        """A batch failed. Nothing is lost (the texts are still in the store): pause, longer
        each time; log the first failure of a run only."""
        full = is_full_error(exc)
        if full and self._space is not None:
            self._space.note_full(exc)
        if self._backoff == 0.0:
            log.warning("search index: %s: %s (will retry, backing off)",
                        type(exc).__name__, exc)
        else:
            log.debug("search index: %s: %s", type(exc).__name__, exc)
        if full:
            self._shrink(search)
        self._pause()

    def _pause(self) -> None:
        """No batch for the next pause, which doubles from BACKOFF_MIN to BACKOFF_MAX."""
        self._backoff = min(max(BACKOFF_MIN, 2 * self._backoff), BACKOFF_MAX)
        with self._cond:
            self._urged = False
            self._hold_until = self._clock() + self._backoff

    def _shrink(self, search: sqlite3.Connection) -> None:
        """Give the search file's WAL back to the filesystem, once per pause."""
        if self._shrunk:
            return
        self._shrunk = True
        if search.in_transaction:
            search.execute("ROLLBACK")
        try:
            search.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as exc:  # readers hold it, or the disk fails: try next pause
            self._shrunk = False
            log.debug("search index: cannot truncate the WAL: %s", exc)

    def _wait_for_work(self) -> int | None:
        """Block until a batch should run and return the work generation; None: stopping."""
        with self._cond:
            while not self._stopping:
                delay = self._delay(self._clock())
                if delay <= 0:
                    return self._generation
                self._cond.wait(None if delay == float("inf") else delay)
            return None

    def _delay(self, now: float) -> float:
        """Seconds until work is due (0: now; inf: nothing to do until told)."""
        if not self._dirty:
            return float("inf")
        if self._hold_until > now:  # a pause (failure, tight space); catch_up ends it
            return self._hold_until - now
        if self._urged:
            return 0.0
        if not self._auto:
            return float("inf")
        quiet = self._last_commit + QUIET_SECONDS - now
        if self._behind_since is not None:
            lagging = max(self._behind_since + MAX_LAG_SECONDS, self._rest_until) - now
            quiet = min(quiet, lagging)
        return max(quiet, 0.0)

    def _rest_after(self, started: float) -> None:
        """Pace the batches that run while the store is busy (see REST_FACTOR)."""
        now = self._clock()
        with self._cond:
            self._rest_until = now + REST_FACTOR * (now - started)

    def _caught_up(self, generation: int) -> None:
        """Nothing was pending; unless new work came meanwhile, rest and wake the waiters."""
        with self._cond:
            if generation != self._generation:
                return
            self._dirty = self._urged = False
            self._behind_since = None
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                waiter.set_result(None)

    def _index_batch(self, main: sqlite3.Connection, search: sqlite3.Connection) -> int:
        """Index the next pending summaries in one transaction; returns how many."""
        upto = searchdb.indexed_upto(search)
        main.execute("BEGIN")
        try:
            pending = main.execute(
                "SELECT id, blob_id, headers FROM summaries WHERE id > ? ORDER BY id LIMIT ?",
                (upto, BATCH_ROWS),
            ).fetchall()
            rows: list[tuple[int, str, str]] = []
            chars = 0
            for summary_id, blob_id, headers in pending:
                body = self.text_for(main, blob_id)
                rows.append((summary_id, headers_text(json.loads(headers)), body))
                chars += len(body)
                if chars >= BATCH_CHARS:
                    break
        finally:
            if main.in_transaction:
                main.execute("ROLLBACK")
        if not rows:
            return 0
        search.execute("BEGIN IMMEDIATE")
        if searchdb.indexed_upto(search) != upto:  # another process indexed meanwhile
            search.execute("ROLLBACK")
            return len(rows)  # look again
        try:
            search.executemany("INSERT INTO fts (rowid, headers, body) VALUES (?, ?, ?)", rows)
            search.execute("UPDATE meta SET value = ? WHERE key = 'upto'", (rows[-1][0],))
            search.execute("COMMIT")
        except BaseException:
            # SQLITE_FULL may have rolled back already: a second ROLLBACK would raise "cannot
            # rollback - no transaction is active" and hide the real error
            if search.in_transaction:
                search.execute("ROLLBACK")
            raise
        self.indexed += len(rows)
        return len(rows)

    def _drop_gone(self, main: sqlite3.Connection, search: sqlite3.Connection) -> int:
        """Remove index rows of summaries the store deleted, then forget those ids."""
        gone = [row[0] for row in main.execute(
            "SELECT id FROM fts_gone ORDER BY id LIMIT ?", (GONE_BATCH,))]
        if not gone:
            return 0
        ids = json.dumps(gone)
        for conn, sql in (
                (search, "DELETE FROM fts WHERE rowid IN (SELECT value FROM json_each(?))"),
                (main, "DELETE FROM fts_gone WHERE id IN (SELECT value FROM json_each(?))")):
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(sql, (ids,))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return len(gone)
