"""Connections to PostgreSQL: a small pool, and the transaction context jobs run in.

Every write is one transaction on a pooled connection (autocommit off only inside
``transaction()``); ``synchronous_commit = on`` is set on each connection, so a call returns
only after its COMMIT is durable on the server. A transaction that hits a deadlock or a
serialization failure is run again from the start (its events are collected anew).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection, errors

from posthouse.store.errors import StorageFailure, StorageFull
from posthouse.store.events import StoreEvent

T = TypeVar("T")
DEFAULT_POOL_SIZE = 4
RETRIES = 20  # deadlocks and serialization failures run the transaction again

Row = tuple[Any, ...]


@dataclass(slots=True)
class Tx:
    """What a job sees: its connection inside one transaction, the time, its events."""

    conn: AsyncConnection[Row]
    now: datetime
    events: list[StoreEvent] = field(default_factory=list)

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a statement, or None."""
        cur = await self.conn.execute(sql.encode(), params)
        return await cur.fetchone() if cur.description is not None else None

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row of a statement."""
        cur = await self.conn.execute(sql.encode(), params)
        return await cur.fetchall()

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it touched."""
        cur = await self.conn.execute(sql.encode(), params)
        return cur.rowcount

    async def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run a statement once per parameter row (pipelined)."""
        if rows:
            async with self.conn.cursor() as cur:
                await cur.executemany(sql.encode(), rows)


async def connect(url: str) -> AsyncConnection[Row]:
    """One connection with posthouse's settings (durable commits, UTC)."""
    conn = await AsyncConnection.connect(url, autocommit=True)
    await conn.execute("SET synchronous_commit = on")
    await conn.execute("SET TIME ZONE 'UTC'")
    return conn


class ConnectionPool:
    """A fixed number of connections handed out one job at a time; a broken one is
    replaced on its next use."""

    def __init__(self, url: str, size: int = DEFAULT_POOL_SIZE) -> None:
        self._url = url
        self._size = size
        self._idle: asyncio.Queue[AsyncConnection[Row] | None] = asyncio.Queue()
        self._all: list[AsyncConnection[Row]] = []

    async def open(self) -> None:
        """Make the pool's slots (connections are opened on first use)."""
        for _ in range(self._size):
            self._idle.put_nowait(None)

    async def close(self) -> None:
        """Close every connection."""
        for conn in self._all:
            await conn.close()
        self._all.clear()

    async def _take(self) -> AsyncConnection[Row]:
        conn = await self._idle.get()
        if conn is None or conn.broken or conn.closed:
            try:
                conn = await connect(self._url)
            except BaseException:
                self._idle.put_nowait(None)
                raise
            self._all.append(conn)
        return conn

    def _give(self, conn: AsyncConnection[Row]) -> None:
        if conn.broken or conn.closed:
            if conn in self._all:
                self._all.remove(conn)
            self._idle.put_nowait(None)
        else:
            self._idle.put_nowait(conn)

    async def transaction(
        self, fn: Callable[[Tx], Awaitable[T]], now: Callable[[], datetime]
    ) -> tuple[T, list[StoreEvent]]:
        """Run ``fn`` in one transaction (again on a deadlock); its result and events."""
        for attempt in range(RETRIES):
            try:
                conn = await self._take()
            except psycopg.Error as exc:
                raise StorageFailure(f"cannot reach PostgreSQL: {exc}") from exc
            try:
                tx = Tx(conn, now())
                async with conn.transaction():
                    result = await fn(tx)
                return result, tx.events
            except (errors.DeadlockDetected, errors.SerializationFailure):
                if attempt == RETRIES - 1:
                    raise StorageFailure("transaction kept conflicting") from None
            except errors.DiskFull as exc:
                raise StorageFull(f"PostgreSQL: {exc}") from exc
            except psycopg.Error as exc:  # anything else the server refused: nothing committed
                raise StorageFailure(f"PostgreSQL: {exc}") from exc
            finally:
                self._give(conn)
        raise AssertionError("unreachable")
