"""POP3's maildrop lock across nodes: a PostgreSQL session-level advisory lock.

``lock_maildrop`` opens a connection of its own for the POP3 session and takes
``pg_try_advisory_lock`` on a key derived from the schema and the user id (so stores in other
schemas of one database do not collide). The lock belongs to that connection: the session
releases it at QUIT or disconnect (``pg_advisory_unlock``, then the connection is closed), and
if the node dies its connections end and the server frees the lock with them, so a crashed
node never leaves a maildrop locked.
"""

from __future__ import annotations

import psycopg
from psycopg import AsyncConnection

from posthouse.store.errors import StorageFailure
from posthouse.store.maildrop_locks import HeldMaildrop
from posthouse.store.postgres.pool import Row, connect

_KEY = "hashtextextended(current_schema() || ':pop3-maildrop:' || %s::text, 0)"


class _PgHold:
    """The advisory lock, held by its own connection."""

    def __init__(self, conn: AsyncConnection[Row], user_id: int) -> None:
        self._conn: AsyncConnection[Row] | None = conn
        self._user_id = user_id

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.execute(f"SELECT pg_advisory_unlock({_KEY})".encode(),
                               (self._user_id,))
        except psycopg.Error:
            pass  # closing the connection below frees the lock as well
        finally:
            await conn.close()


async def try_lock_maildrop(url: str, user_id: int) -> HeldMaildrop | None:
    """The lock on ``user_id``'s maildrop, or None if a session on any node holds it."""
    try:
        conn = await connect(url)
    except psycopg.Error as exc:
        raise StorageFailure(f"cannot reach PostgreSQL: {exc}") from exc
    try:
        cur = await conn.execute(f"SELECT pg_try_advisory_lock({_KEY})".encode(), (user_id,))
        row = await cur.fetchone()
    except psycopg.Error as exc:
        await conn.close()
        raise StorageFailure(f"cannot lock the maildrop: {exc}") from exc
    except BaseException:
        await conn.close()
        raise
    if row is None or not row[0]:
        await conn.close()
        return None
    return _PgHold(conn, user_id)
