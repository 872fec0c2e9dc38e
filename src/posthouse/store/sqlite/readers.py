"""A small pool of read-only connections served by their own threads.

Each read runs in one deferred transaction, so it sees one consistent snapshot that includes
every write committed before it started (WAL mode: readers never block the writer).
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from posthouse.store.errors import StorageFailure
from posthouse.store.sqlite.schema import connect
from posthouse.store.sqlite.writer import map_error

T = TypeVar("T")
DEFAULT_READERS = 3


def icontains(haystack: str | None, needle: str | None) -> bool:
    """Case-insensitive substring test (SQL function ``ph_icontains``, needle pre-lowered)."""
    if haystack is None or needle is None:
        return False
    return needle in haystack.lower()


class ReaderPool:
    """Run synchronous read functions on pooled read-only connections."""

    def __init__(
        self, db_path: Path, *, search_path: Path | None = None, size: int = DEFAULT_READERS
    ) -> None:
        self._db_path = db_path
        self._search_path = search_path  # attached as "idx" to the pooled connections
        self._size = size
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._executor: ThreadPoolExecutor | None = None
        self._point: sqlite3.Connection | None = None

    def open(self) -> None:
        """Open the connections and start the threads."""
        for _ in range(self._size):
            conn = connect(self._db_path, read_only=True)
            conn.create_function("ph_icontains", 2, icontains, deterministic=True)
            if self._search_path is not None:
                conn.execute("ATTACH DATABASE ? AS idx", (str(self._search_path),))
            self._all.append(conn)
            self._idle.put(conn)
        self._executor = ThreadPoolExecutor(self._size, thread_name_prefix="posthouse-reader")
        self._point = connect(self._db_path, read_only=True)

    def run_point(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run an indexed single-row lookup right here, on the caller's (event loop) thread.

        Such a query costs tens of microseconds, a hop to a reader thread several times that;
        only point lookups may use this (nothing that scans or returns blobs). ``fn`` runs
        one SELECT, which is a snapshot by itself: no BEGIN/ROLLBACK around it."""
        if self._point is None:
            raise StorageFailure("the store is not open")
        try:
            return fn(self._point)
        except Exception as exc:
            mapped = map_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` with a connection inside one read transaction, off the event loop."""
        if self._executor is None:
            raise StorageFailure("the store is not open")
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._executor, self._call, fn)
        except RuntimeError:  # shut down meanwhile
            raise StorageFailure("the store is closed") from None
        return await future

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._idle.get()
        try:
            return _in_snapshot(conn, fn)
        finally:
            self._idle.put(conn)

    def close(self) -> None:
        """Wait for running reads, then close every connection (blocking)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        for conn in self._all:
            conn.close()
        self._all.clear()
        if self._point is not None:
            self._point.close()
            self._point = None
        self._idle = queue.SimpleQueue()


def _in_snapshot(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn`` inside one read transaction; store errors come out as domain errors."""
    try:
        conn.execute("BEGIN")
        try:
            return fn(conn)
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
    except Exception as exc:
        mapped = map_error(exc)
        if mapped is exc:
            raise
        raise mapped from exc
