"""``posthouse store migrate --from postgresql://...``: a PostgreSQL store copied back into
the SQLite store of an empty data dir (the way back from from_sqlite.py).

Row for row with the ids, as from_sqlite.py: the same tables, blobs inline in the database
or as files under blobs/ by size (as SQLite's own writes decide), and the summaries as they
are (SQLite's search index is built from them by the server when it starts; their address
rows, schema v10, right after them). One SQLite
transaction holds every row; blob files are written first (a failed copy leaves only files
no row references, in a data dir that was empty). The target must hold no domain, user,
blob or queue entry; the caller holds its data dir lock. Verified as from_sqlite.py does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
from psycopg import AsyncConnection

from posthouse.store import blobs
from posthouse.store.errors import StorageFailure
from posthouse.store.postgres import schema
from posthouse.store.postgres.from_sqlite import (
    BATCH,
    BOOLEANS,
    TABLES,
    Bar,
    MigrationRefused,
    StoreCopyReport,
    columns_of,
    verify,
)
from posthouse.store.postgres.pool import Row, connect
from posthouse.store.sqlite import schema as sqlite_schema


def _to_sqlite(table: str, cols: list[str], row: Any) -> list[Any]:
    values = list(row)
    for name in BOOLEANS.get(table, ()):
        i = cols.index(name)
        values[i] = int(bool(values[i]))
    if table == "aliases":
        i = cols.index("targets")
        values[i] = json.dumps(list(values[i]))
    if table == "metadata":
        i = cols.index("value")
        values[i] = bytes(values[i])
    return values


async def copy_to_sqlite(url: str, data_dir: Path, *, bar: Bar) -> StoreCopyReport:
    """Copy the PostgreSQL store at ``url`` into the empty SQLite store of ``data_dir`` (a
    directory that exists), then verify the copy."""
    dst = sqlite_schema.connect(data_dir / "posthouse.sqlite3")
    root = data_dir / "blobs"
    report = StoreCopyReport()
    try:
        sqlite_schema.migrate(dst)
        for table in ("domains", "users", "queue", "blobs"):
            if dst.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:  # noqa: S608
                raise MigrationRefused(f"{data_dir} already holds a store: posthouse "
                                       "migrates only into an empty data dir")
        try:
            conn = await connect(url)
        except psycopg.Error as exc:
            raise StorageFailure(f"cannot reach PostgreSQL: {exc}") from exc
        try:
            await schema.migrate(conn)  # refuses a newer schema; nothing to do if current
            dst.execute("BEGIN IMMEDIATE")
            try:
                await _copy(conn, dst, root, bar, report)
                dst.execute("COMMIT")
            except BaseException:
                if dst.in_transaction:
                    dst.execute("ROLLBACK")
                raise
            report.mismatches = await verify(conn, dst, root, bar)
        finally:
            await conn.close()
    finally:
        dst.close()
    return report


async def _copy(conn: AsyncConnection[Row], dst: Any, root: Path, bar: Bar,
                report: StoreCopyReport) -> None:
    cur = await conn.execute(b"SELECT id FROM blobs ORDER BY id")
    ids = [str(r[0]) for r in await cur.fetchall()]
    with bar("blobs", len(ids), "blobs") as advance:
        for blob_id in ids:
            cur = await conn.execute(b"SELECT size, refs, data FROM blobs WHERE id = %s",
                                     (blob_id,))
            found = await cur.fetchone()
            assert found is not None  # nothing else writes while the source is migrated
            size, refs, data = int(found[0]), int(found[1]), bytes(found[2])
            inline = blobs.is_inline(size)
            dst.execute("INSERT INTO blobs (id, size, refs, inline) VALUES (?, ?, ?, ?)",
                        (blob_id, size, refs, int(inline)))
            if inline:
                dst.execute("INSERT INTO blob_data (id, data) VALUES (?, ?)", (blob_id, data))
            else:
                blobs.write_blob_file(root, blob_id, data)
            advance(1)
    report.counts["blobs"] = len(ids)
    cur = await conn.execute(b"SELECT blob_id, envelope, bodystructure, headers, sent_date"
                             b" FROM summaries ORDER BY blob_id")
    dst.executemany("INSERT INTO summaries (blob_id, envelope, bodystructure, headers,"
                    " sent_date) VALUES (?, ?, ?, ?, ?)", await cur.fetchall())
    dst.execute(sqlite_schema.FILL_ADDRESSES)  # their SEARCH FROM/TO/CC/BCC rows (v10)
    for table, cols, order in TABLES:
        names = columns_of(cols)
        insert = (f"INSERT INTO {table} ({cols}) "  # noqa: S608
                  f"VALUES ({', '.join(['?'] * len(names))})")
        count = 0
        async with conn.cursor() as pg:
            await pg.execute(f"SELECT {cols} FROM {table} ORDER BY {order}".encode())  # noqa: S608
            rows = await pg.fetchall()
        with bar(table, len(rows), "rows") as advance:
            for start in range(0, len(rows), BATCH):
                chunk = [_to_sqlite(table, names, r) for r in rows[start:start + BATCH]]
                dst.executemany(insert, chunk)
                count += len(chunk)
                advance(len(chunk))
        report.counts[table] = count
    cur = await conn.execute(b"SELECT value FROM meta WHERE key = 'uidvalidity'")
    row = await cur.fetchone()
    top = dst.execute("SELECT max(uidvalidity) FROM mailboxes").fetchone()[0] or 0
    dst.execute("INSERT INTO meta (key, value) VALUES ('uidvalidity', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (max(int(row[0]) if row else 0, int(top)),))
