"""One account as JMAP sees it, read from the store's ports for one request.

The store keys a message by (mailbox, uid) and its content by blob id (a SHA-256 of the
bytes). JMAP's Email is the content: the same bytes filed into two mailboxes are one Email
with two ``mailboxIds`` (RFC 8621 4.1.1), which is exactly the IMAP OBJECTID EMAILID
(imap/objectid.py: derived from the blob id), so Email ids are EMAILIDs and Thread ids are
THREADIDs, stable across COPY, MOVE and restarts, and the same over IMAP and JMAP.
Mailbox ids are MAILBOXIDs. The keywords of an Email are the union of its copies' flags.

``AccountView.load`` reads the mailbox list first and the messages after, so the view is
never older than its state string (a change in between is reported again, never missed).
It reads each mailbox once with ``message_list``: metadata and the header fields a thread
id comes from, no summary. Summaries are read when a method needs them (``read_summaries``:
the Emails Email/get returns, or all of them for a filter or sort on headers) and stay with
the record, which the views after it share.
"""

from __future__ import annotations

import asyncio
import gc
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import NamedTuple

from posthouse.imap import objectid
from posthouse.jmap.attachments import structure_has_attachment
from posthouse.jmap.keywords import keywords_of
from posthouse.jmap.state import decode_state, encode_state
from posthouse.message.summary_model import MessageSummary
from posthouse.store.api import Store
from posthouse.store.models import SEEN, ListedMessage, Mailbox

# rows are read (refresh) or turned into records (load) this many at a time, the event
# loop free in between; summaries are read this many per store call
_SLICE = 2000
# a load turns this many listed messages into records between two turns of the event loop
_LOAD_SLICE = 20000
# the thread ids of this many Emails that left the account are remembered (departed)
_DEPARTED = 10000


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a load makes its many objects (rows, records,
    copies, dict entries: none in a cycle, so nothing is left for it to free): otherwise
    every few hundred new objects start a collection and the older generations are walked
    again and again as the view grows, about a third of the load of a big account on a
    server's heap. The pause lasts one load (a second or so at 100,000 messages), across
    its awaits: any cycle made meanwhile is collected after it."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class EmailCopy(NamedTuple):
    """One copy of an Email: a message row in one mailbox (a tuple: a big account makes
    many)."""

    mailbox_id: int
    uid: int
    modseq: int
    flags: frozenset[str]


@dataclass(slots=True)
class EmailRecord:
    """One JMAP Email: a content and where it is filed."""

    id: str
    blob_id: str
    thread_id: str
    size: int
    received_at: datetime
    summary: MessageSummary | None
    copies: list[EmailCopy] = field(default_factory=list)
    cached_attachment: bool | None = None
    # False until the summary has been asked of the store (AccountView.read_summaries)
    summary_read: bool = True

    @property
    def has_attachment(self) -> bool | None:
        """``hasAttachment`` from the cached body structure (jmap/attachments.py), worked
        out once; None for a message stored without a summary (its bytes must tell) or
        whose summary is not read yet."""
        if self.cached_attachment is None and self.summary is not None:
            self.cached_attachment = structure_has_attachment(self.summary.bodystructure)
        return self.cached_attachment

    @property
    def flags(self) -> frozenset[str]:
        """The union of the copies' flags."""
        out: set[str] = set()
        for copy in self.copies:
            out |= copy.flags
        return frozenset(out)

    @property
    def keywords(self) -> dict[str, bool]:
        return keywords_of(self.flags)

    @property
    def seen(self) -> bool:
        return any(SEEN in c.flags for c in self.copies)


class AccountView:
    """Mailboxes, Emails and Threads of one user at one state (never changed once loaded)."""

    def __init__(self, user_id: int, mailboxes: list[Mailbox], state: str) -> None:
        self.user_id = user_id
        self.mailboxes = mailboxes
        self.state = state
        self.by_jmap_id = {objectid.mailbox_id(b): b for b in mailboxes}
        self.by_row_id = {b.id: b for b in mailboxes}
        self.emails: dict[str, EmailRecord] = {}
        self.by_copy: dict[tuple[int, int], str] = {}
        self.threads: dict[str, list[str]] = {}
        # every Email as (receivedAt, id), in that order: Email/query's usual sort
        self.arrival: list[tuple[datetime, str]] = []
        # Email id -> thread id of the Emails whose last copy went while this process
        # followed the account (refresh): a thread id comes from the content, which a
        # destroyed Email no longer has (/queryChanges and Thread/changes need it)
        self.departed: dict[str, str] = {}
        # refresh shares the older view's records: the ids of those this view has copied
        # (its own to change); None: every record is its own (a full load)
        self._own: set[str] | None = None
        self._touched_threads: set[str] = set()
        # Email/query results at this state: (filter, sort, collapseThreads) -> ids
        self.query_results: dict[str, list[str]] = {}

    @classmethod
    async def load(cls, store: Store, user_id: int,
                   boxes: list[Mailbox] | None = None) -> AccountView:
        """Read the account (mailbox list first: see the module docstring); ``boxes``: the
        mailbox list the caller has just read."""
        if boxes is None:
            boxes = await store.list_mailboxes(user_id)
        view = cls(user_id, boxes, encode_state(boxes))
        with _collector_paused():
            for box in boxes:
                await view._add_listed(box.id, await store.message_list(
                    box.id, objectid.THREAD_FIELDS))
            view._build_threads()
        return view

    @classmethod
    async def refresh(cls, store: Store, old: AccountView,
                      boxes: list[Mailbox]) -> AccountView | None:
        """The account now, from an older view and what changed since its state: the rows
        ``changed_since`` and the tombstones of each mailbox whose modseq moved. None when
        that cannot be told (a mailbox gone or replaced, tombstones dropped): load it all."""
        marks = decode_state(old.state)
        current = {b.id: b for b in boxes}
        if marks is None or any(m.id not in current or current[m.id].uidvalidity
                                != m.uidvalidity for m in marks.values()):
            return None
        view = cls(old.user_id, boxes, encode_state(boxes))
        view.emails = dict(old.emails)  # copied on write (_own_record): old never changes
        view._own = set()
        view.arrival = list(old.arrival)
        view.by_copy = dict(old.by_copy)
        view.departed = dict(old.departed)
        for box in boxes:
            mark = marks.get(box.id)
            if mark is None:
                await view._add_rows(store, box.id, [u.uid for u in await store.uid_list(box.id)])
                continue
            if mark.modseq == box.highestmodseq:
                continue
            gone = await store.expunged_since(box.id, mark.modseq)
            if not gone.complete:
                return None
            for uid in gone.uids:
                view._remove_copy(box.id, uid)
            changed = sorted(await store.changed_since(box.id, mark.modseq))
            for uid in changed:
                view._remove_copy(box.id, uid)  # read again below, as it is now
            await view._add_rows(store, box.id, changed)
        view._update_threads(old)
        return view

    async def _add_rows(self, store: Store, mailbox_row_id: int, uids: list[int]) -> None:
        for start in range(0, len(uids), _SLICE):
            metas = await store.fetch_meta(mailbox_row_id, uids[start:start + _SLICE],
                                           with_summary=True)
            for meta in metas:
                email_id = objectid.email_id(meta.blob_id)
                record = self._own_record(email_id)
                if record is None:
                    summary = meta.summary
                    thread = (objectid.thread_id(summary, meta.blob_id) if summary
                              else "T" + meta.blob_id[:32])
                    record = EmailRecord(email_id, meta.blob_id, thread, meta.size,
                                         meta.internaldate, summary)
                    self.emails[email_id] = record
                    if self._own is not None:  # a refresh (a load sorts them all at once)
                        self._own.add(email_id)
                        insort(self.arrival, (record.received_at, email_id))
                self._touched_threads.add(record.thread_id)
                record.copies.append(EmailCopy(mailbox_row_id, meta.uid, meta.modseq,
                                               meta.flags))
                self.by_copy[(mailbox_row_id, meta.uid)] = email_id
            await asyncio.sleep(0)  # a big account does not hold the loop

    async def _add_listed(self, mailbox_row_id: int, listed: Sequence[ListedMessage]) -> None:
        """A full load's records of one mailbox (summaries not read)."""
        emails, by_copy = self.emails, self.by_copy
        threads: dict[str, str] = {}  # root Message-ID -> thread id, worked out once
        for start in range(0, len(listed), _LOAD_SLICE):
            for entry in listed[start:start + _LOAD_SLICE]:
                blob_id = entry.blob_id
                email_id = objectid.email_id(blob_id)
                record = emails.get(email_id)
                if record is None:
                    root = objectid.root_of(entry.fields)
                    thread = threads.get(root) if root is not None else None
                    if thread is None:
                        thread = objectid.thread_id_of(root, blob_id)
                        if root is not None:
                            threads[root] = thread
                    record = emails[email_id] = EmailRecord(
                        email_id, blob_id, thread, entry.size, entry.internaldate, None,
                        summary_read=False)
                record.copies.append(EmailCopy(mailbox_row_id, entry.uid, entry.modseq,
                                               entry.flags))
                by_copy[(mailbox_row_id, entry.uid)] = email_id
            await asyncio.sleep(0)  # a big account does not hold the loop

    async def read_summaries(self, store: Store,
                             records: Iterable[EmailRecord] | None = None) -> None:
        """Read the summaries of ``records`` (None: every Email) not read yet."""
        chosen = self.emails.values() if records is None else records
        wanted = [r for r in chosen if not r.summary_read]
        with _collector_paused():  # all of a big account's: as many objects as a load
            for start in range(0, len(wanted), _SLICE):
                part = wanted[start:start + _SLICE]
                found = await store.read_summaries([r.blob_id for r in part])
                for record in part:
                    record.summary = found.get(record.blob_id)
                    record.summary_read = True

    def _remove_copy(self, mailbox_row_id: int, uid: int) -> None:
        email_id = self.by_copy.pop((mailbox_row_id, uid), None)
        if email_id is None:
            return
        record = self._own_record(email_id)
        assert record is not None
        self._touched_threads.add(record.thread_id)
        record.copies = [c for c in record.copies
                         if (c.mailbox_id, c.uid) != (mailbox_row_id, uid)]
        if not record.copies:
            del self.emails[email_id]
            at = bisect_left(self.arrival, (record.received_at, email_id))
            if at < len(self.arrival) and self.arrival[at][1] == email_id:
                del self.arrival[at]
            self.departed.pop(email_id, None)
            self.departed[email_id] = record.thread_id  # most recent last
            if len(self.departed) > _DEPARTED:
                del self.departed[next(iter(self.departed))]

    def _own_record(self, email_id: str) -> EmailRecord | None:
        """The record of an Email, copied first if it is still the older view's."""
        record = self.emails.get(email_id)
        if record is None or self._own is None or email_id in self._own:
            return record
        record = replace(record, copies=list(record.copies))
        self.emails[email_id] = record
        self._own.add(email_id)
        return record

    def _update_threads(self, old: AccountView) -> None:
        """The threads of a refreshed view: the older view's, with those whose Emails
        came or went rebuilt (a thread id comes from the content: it never changes)."""
        self.threads = dict(old.threads)
        added: dict[str, set[str]] = {}
        for email_id in self._own or ():
            record = self.emails.get(email_id)
            if record is not None:
                added.setdefault(record.thread_id, set()).add(email_id)
        for thread in self._touched_threads:
            members = [i for i in {*old.threads.get(thread, ()), *added.get(thread, ())}
                       if i in self.emails]
            if members:
                members.sort(key=lambda i: (self.emails[i].received_at, i))
                self.threads[thread] = members
            else:
                self.threads.pop(thread, None)
        self._touched_threads = set()

    def _build_threads(self) -> None:
        self._touched_threads = set()
        threads: dict[str, list[str]] = {}
        emails = self.emails
        self.arrival = sorted((r.received_at, r.id) for r in emails.values())
        for _when, email_id in self.arrival:
            threads.setdefault(emails[email_id].thread_id, []).append(email_id)
        self.threads = threads

    def mailbox_ids(self, record: EmailRecord) -> dict[str, bool]:
        """The ``mailboxIds`` of an Email."""
        return {objectid.mailbox_id(self.by_row_id[c.mailbox_id]): True for c in record.copies
                if c.mailbox_id in self.by_row_id}

    def in_mailbox(self, mailbox_row_id: int) -> list[EmailRecord]:
        """The Emails with a copy in a mailbox."""
        return [r for r in self.emails.values()
                if any(c.mailbox_id == mailbox_row_id for c in r.copies)]


class AccountViews:
    """The last view of each recently active account, reused while its state is the same
    (one ``list_mailboxes`` read tells; any change to the messages moves a modseq), and
    brought up to date from the changes alone when it is not (``AccountView.refresh``)."""

    def __init__(self, store: Store, keep: int = 64) -> None:
        self.store = store
        self.keep = keep
        self._views: dict[int, AccountView] = {}

    async def current(self, user_id: int) -> AccountView:
        """The account as of now."""
        boxes = await self.store.list_mailboxes(user_id)
        cached = self._views.pop(user_id, None)
        if cached is not None and cached.state != encode_state(boxes):
            cached = await AccountView.refresh(self.store, cached, boxes)
        if cached is None:
            cached = await AccountView.load(self.store, user_id, boxes)
        self._views[user_id] = cached  # most recent last
        while len(self._views) > self.keep:
            del self._views[next(iter(self._views))]
        return cached
