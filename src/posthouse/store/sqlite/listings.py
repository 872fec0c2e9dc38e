"""The last listing (``uid_list``) of the busiest mailboxes, reused while nothing changed.

A client that reconnects SELECTs and fetches every flag of its mailbox; with 100,000 messages
reading them again is most of the cost, though usually nothing changed since the last time.
Every change to a mailbox's messages bumps its highestmodseq in the same transaction
(messages.py), adding or removing rows changes its msg_count and uidnext, and a mailbox made
again under a reused id has another uidvalidity: so a listing read in a snapshot whose
(uidvalidity, highestmodseq, uidnext, msg_count) equals the one a kept listing was read with is
that listing. The check is one indexed row in the same read transaction as the listing would
be, so it is exact, not a guess with a time limit. Listings are shared: callers treat them as
read-only (MailboxView copies the arrays it changes). Bounded by bytes; the least recently
used goes first. Thread-safe (the readers run on several threads).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict

from posthouse.store.errors import NoSuchMailbox
from posthouse.store.sqlite import msgreads
from posthouse.store.uidlist import UidFlagsList

MIN_KEPT = 1000  # smaller listings are cheap to read again
BUDGET_BYTES = 64 * 1024 * 1024
_STATE_SQL = "SELECT uidvalidity, highestmodseq, uidnext, msg_count FROM mailboxes WHERE id = ?"

_State = tuple[int, int, int, int]


def _size(listing: UidFlagsList) -> int:
    return len(listing) * (listing.uids.itemsize + listing.modseqs.itemsize
                           + listing.flag_ids.itemsize)


class ListingCache:
    """Mailbox id -> (state, listing) for the mailboxes listed last."""

    def __init__(self, budget_bytes: int = BUDGET_BYTES) -> None:
        self._budget = budget_bytes
        self._used = 0
        self._kept: OrderedDict[int, tuple[_State, UidFlagsList]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0  # for tests and benchmarks

    def read(self, conn: sqlite3.Connection, mailbox_id: int) -> UidFlagsList:
        """The mailbox's listing as of ``conn``'s read snapshot (NoSuchMailbox if gone)."""
        state, listing = self._lookup(conn, mailbox_id)
        if listing is None:
            listing = msgreads.uid_list(conn, mailbox_id)
            if len(listing) >= MIN_KEPT:
                self._keep(mailbox_id, state, listing)
        return listing

    def flag_groups(self, conn: sqlite3.Connection,
                    mailbox_id: int) -> list[tuple[frozenset[str], list[int]]]:
        """``uids_by_flags`` from the kept listing when it is still the mailbox's, else from
        one GROUP BY in SQLite (cheaper than reading a listing that is not kept)."""
        _, listing = self._lookup(conn, mailbox_id)
        if listing is not None:
            return listing.flag_groups()
        return msgreads.uids_by_flags(conn, mailbox_id)

    def _lookup(self, conn: sqlite3.Connection,
                mailbox_id: int) -> tuple[_State, UidFlagsList | None]:
        """The mailbox's state in this snapshot, and the kept listing if it has that state."""
        row = conn.execute(_STATE_SQL, (mailbox_id,)).fetchone()
        if row is None:
            raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
        state: _State = (int(row[0]), int(row[1]), int(row[2]), int(row[3]))
        with self._lock:
            kept = self._kept.get(mailbox_id)
            if kept is None or kept[0] != state:
                return state, None
            self._kept.move_to_end(mailbox_id)
            self.hits += 1
            return state, kept[1]

    def _keep(self, mailbox_id: int, state: _State, listing: UidFlagsList) -> None:
        size = _size(listing)
        if size > self._budget:
            return
        with self._lock:
            old = self._kept.pop(mailbox_id, None)
            if old is not None:
                self._used -= _size(old[1])
            self._kept[mailbox_id] = (state, listing)
            self._used += size
            while self._used > self._budget:
                _, (_, dropped) = self._kept.popitem(last=False)
                self._used -= _size(dropped)
