"""Expunged messages that open IMAP views can still address (RFC 2180 4.1, RFC 9051 7.5.1).

A session may read a message until it has been told of its expunge. So while a mailbox has
open views (``open_view``), an expunge keeps what those views need: the removed row's
metadata here, in memory, and its blob reference in the database (``blobs.refs`` keeps
counting it, so neither the bytes nor the summary are freed). Each view that was open at the
expunge waits on the message; ``release`` (the view sent EXPUNGE, or never knew the uid) and
``close_view`` drop a view, and when no view waits any more the reference is given back with
``blobrefs.release``, which frees the blob if it was the last.

Why here, and why the changes go through the writer thread: opening a view, an expunge and
a release are then ordered like the transactions they sit between. A view opened before an
expunge's job is counted by it; one opened after it reads its uid list after that commit, so
it never saw the message. A release whose transaction is rolled back only delays freeing;
releases commit lazily (writer.py: no fsync of their own), since one a crash loses is
redone by ``recount``.

Opening a view, and closing one that waits on nothing, change nothing in the database: they
are done at once on the event loop (``open_now``, ``close_now``) unless a removal from that
mailbox is in the writer's current batch (``watched`` marks the mailbox until the writer
calls ``settle`` after the batch's COMMIT or rollback). Then they go through the writer, as
before, and so are ordered after that commit. Otherwise no removal sits between deciding
whom it holds for and its commit, so a view opened at once is either counted by a later
removal or reads its uid list after an earlier one was committed.

Nothing is persisted: after a crash or restart no view is open, and ``recount`` (run by
open()) sets every blob's count from its messages and queue entries, freeing what was held.
A held uid is never reused (uids only grow), so ``_give_back`` skips a row that still exists
(its expunge was rolled back) instead of dropping a live row's reference.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from posthouse.store.models import StoredMessage
from posthouse.store.sqlite import blobrefs
from posthouse.store.sqlite.writer import WriteContext


@dataclass(slots=True)
class _Held:
    meta: StoredMessage
    waiting: set[int] = field(default_factory=set)  # view ids not yet told of the expunge


class ViewHolds:
    """Open views per mailbox and the expunged messages they still address (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._views: dict[int, int] = {}  # view id -> mailbox id
        self._open: dict[int, set[int]] = {}  # mailbox id -> view ids
        self._held: dict[tuple[int, int], _Held] = {}  # (mailbox id, uid) -> what is kept
        self._removing: set[int] = set()  # mailboxes removed from in the writer's batch

    # -- event loop side (reads) ----------------------------------------------------------

    def new_view_id(self) -> int:
        """An id for a view about to be opened."""
        with self._lock:
            return next(self._ids)

    def expunged_meta(self, view_id: int, uids: Iterable[int]) -> list[StoredMessage]:
        """The held metadata of those uids this view still waits on, in uid order."""
        with self._lock:
            mailbox_id = self._views.get(view_id)
            if mailbox_id is None:
                return []
            found = (self._held.get((mailbox_id, uid)) for uid in sorted(set(uids)))
            return [h.meta for h in found if h is not None and view_id in h.waiting]

    def waits(self, view_id: int, uids: Iterable[int]) -> bool:
        """Whether the view waits on any of ``uids`` (a release would change something)."""
        with self._lock:
            mailbox_id = self._views.get(view_id)
            if mailbox_id is None:
                return False
            return any(view_id in h.waiting for uid in uids
                       if (h := self._held.get((mailbox_id, uid))) is not None)

    def open_now(self, view_id: int, mailbox_id: int) -> bool:
        """Register a view at once unless a removal from the mailbox is being committed
        (False: register it through the writer, ``open_view``)."""
        with self._lock:
            if mailbox_id in self._removing:
                return False
            self._views[view_id] = mailbox_id
            self._open.setdefault(mailbox_id, set()).add(view_id)
            return True

    def close_now(self, view_id: int) -> bool:
        """Drop a view at once when nothing is held for it and no removal from its mailbox
        is being committed (False: close it through the writer, ``release``)."""
        with self._lock:
            mailbox_id = self._views.get(view_id)
            if mailbox_id is None:
                return True
            if mailbox_id in self._removing or any(
                    view_id in held.waiting for key, held in self._held.items()
                    if key[0] == mailbox_id):
                return False
            del self._views[view_id]
            views = self._open[mailbox_id]
            views.discard(view_id)
            if not views:
                del self._open[mailbox_id]
            return True

    # -- writer thread (inside write jobs) --------------------------------------------------

    def open_view(self, view_id: int, mailbox_id: int) -> None:
        """Register a view of a mailbox (before its uid list is read)."""
        with self._lock:
            self._views[view_id] = mailbox_id
            self._open.setdefault(mailbox_id, set()).add(view_id)

    def watched(self, mailbox_id: int) -> bool:
        """Whether any view of the mailbox is open; called as rows are removed, it marks the
        mailbox until ``settle`` (see the module docstring)."""
        with self._lock:
            self._removing.add(mailbox_id)
            return bool(self._open.get(mailbox_id))

    def settle(self) -> None:
        """The writer's batch was committed or rolled back: no removal is pending."""
        with self._lock:
            self._removing.clear()

    def hold(self, mailbox_id: int, rows: Sequence[StoredMessage]) -> None:
        """Keep removed rows for the views open now; their blob references stay counted."""
        with self._lock:
            views = set(self._open.get(mailbox_id, ()))
            for meta in rows:
                self._held[(mailbox_id, meta.uid)] = _Held(meta, set(views))

    def release(self, ctx: WriteContext, view_id: int, uids: Iterable[int] | None) -> None:
        """The view no longer needs these uids (None: any, and it closes)."""
        with self._lock:
            mailbox_id = self._views.get(view_id)
            if mailbox_id is None:
                return
            if uids is None:
                del self._views[view_id]
                views = self._open[mailbox_id]
                views.discard(view_id)
                if not views:
                    del self._open[mailbox_id]
                keys = [k for k in self._held if k[0] == mailbox_id]
            else:
                keys = [(mailbox_id, uid) for uid in uids]
            done: list[tuple[int, StoredMessage]] = []
            for key in keys:
                held = self._held.get(key)
                if held is None:
                    continue
                held.waiting.discard(view_id)
                if not held.waiting:
                    del self._held[key]
                    done.append((mailbox_id, held.meta))
        _give_back(ctx, done)


def _give_back(ctx: WriteContext, done: Sequence[tuple[int, StoredMessage]]) -> None:
    """Drop the held references (rows that exist again were never expunged: skipped)."""
    counts: dict[str, int] = {}
    for mailbox_id, meta in done:
        alive = ctx.conn.execute("SELECT 1 FROM messages WHERE mailbox_id = ? AND uid = ?",
                                 (mailbox_id, meta.uid)).fetchone()
        if alive is None:
            counts[meta.blob_id] = counts.get(meta.blob_id, 0) + 1
    if counts:
        blobrefs.release(ctx, counts)


def recount(ctx: WriteContext) -> int:
    """Set every blob's count from its messages and queue entries and free the blobs left
    without any (references held for views when the process stopped); how many were freed."""
    conn = ctx.conn
    conn.execute(
        "UPDATE blobs SET refs = (SELECT count(*) FROM messages m WHERE m.blob_id = blobs.id)"
        " + (SELECT count(*) FROM queue q WHERE q.blob_id = blobs.id)"
        " WHERE refs != (SELECT count(*) FROM messages m WHERE m.blob_id = blobs.id)"
        " + (SELECT count(*) FROM queue q WHERE q.blob_id = blobs.id)"
    )
    orphans = [row[0] for row in conn.execute("SELECT id FROM blobs WHERE refs <= 0")]
    blobrefs.release(ctx, dict.fromkeys(orphans, 0))
    return len(orphans)
