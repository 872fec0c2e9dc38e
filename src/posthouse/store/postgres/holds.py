"""Expunged messages that open IMAP views can still address (RFC 2180 4.1, RFC 9051 7.5.1),
kept in the database so that a view on one node holds what another node expunges.

A view is a row of ``views`` (its mailbox, and the node that opened it: the backend pid and
start time of that node's LISTEN connection). An expunge copies each removed row into
``held`` once per view open on the mailbox, and each copy keeps one reference to the blob.
A view's rows go when it releases them (it sent EXPUNGE) or closes. The expunge locks the
mailbox row before it looks for views, and ``open_view`` takes a share lock on it, so a view
is either seen by an expunge or opened after its commit (and then never saw the message).
A node that died leaves its views behind: ``sweep_dead_views`` (at every node's open) frees
those whose node connection no longer exists.
"""

from __future__ import annotations

from collections.abc import Sequence

from posthouse.store.errors import NoSuchMailbox
from posthouse.store.postgres import blobrefs
from posthouse.store.postgres.pool import Row, Tx

HELD_COLUMNS = "uid, modseq, flags, internaldate, savedate, size, blob_id"
_HOLD = ("INSERT INTO held (view_id, mailbox_id, uid, modseq, flags, internaldate, savedate,"
         " size, blob_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING")


async def open_view(tx: Tx, mailbox_id: int, node: tuple[int, object]) -> tuple[int, int]:
    """Register a view of a mailbox; its id and the mailbox's highestmodseq now."""
    box = await tx.one("SELECT highestmodseq FROM mailboxes WHERE id = %s FOR SHARE",
                       (mailbox_id,))
    if box is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    row = await tx.one("INSERT INTO views (mailbox_id, node_pid, node_start)"
                       " VALUES (%s, %s, %s) RETURNING id", (mailbox_id, *node))
    assert row is not None
    return int(row[0]), int(box[0])


async def hold(tx: Tx, mailbox_id: int, rows: Sequence[Row]) -> int:
    """Keep removed rows (columns as HELD_COLUMNS) for every view open on the mailbox; how
    many views there are. Each copy adds one blob reference (the caller drops the message
    rows' own)."""
    views = [r[0] for r in await tx.all("SELECT id FROM views WHERE mailbox_id = %s",
                                        (mailbox_id,))]
    if views and rows:
        await tx.many(_HOLD, [(view, mailbox_id, *row) for view in views for row in rows])
    return len(views)


async def release(tx: Tx, view_id: int, uids: Sequence[int] | None) -> None:
    """The view no longer needs these uids (None: any, and it closes)."""
    if uids is None:
        gone = await tx.all("DELETE FROM held WHERE view_id = %s RETURNING blob_id", (view_id,))
        await tx.run("DELETE FROM views WHERE id = %s", (view_id,))
    else:
        gone = await tx.all("DELETE FROM held WHERE view_id = %s AND uid = ANY(%s)"
                            " RETURNING blob_id", (view_id, list(uids)))
    if gone:
        await blobrefs.release(tx, blobrefs.count_refs(gone))


async def sweep_dead_views(tx: Tx) -> int:
    """Free the views of nodes whose connection is gone (crashed or stopped); how many."""
    dead = [r[0] for r in await tx.all(
        "SELECT v.id FROM views v WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a"
        " WHERE a.pid = v.node_pid AND a.backend_start = v.node_start) FOR UPDATE SKIP LOCKED")]
    for view_id in dead:
        await release(tx, view_id, None)
    return len(dead)
