"""One account as JMAP sees it, read from the store's ports for one request.

The store keys a message by (mailbox, uid) and its content by blob id (a SHA-256 of the
bytes). JMAP's Email is the content: the same bytes filed into two mailboxes are one Email
with two ``mailboxIds`` (RFC 8621 4.1.1), which is exactly the IMAP OBJECTID EMAILID
(imap/objectid.py: derived from the blob id), so Email ids are EMAILIDs and Thread ids are
THREADIDs, stable across COPY, MOVE and restarts, and the same over IMAP and JMAP.
Mailbox ids are MAILBOXIDs. The keywords of an Email are the union of its copies' flags.

``AccountView.load`` reads the mailbox list first and the messages after, so the view is
never older than its state string (a change in between is reported again, never missed).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from posthouse.imap import objectid
from posthouse.jmap.keywords import keywords_of
from posthouse.jmap.state import encode_state
from posthouse.message.summary_model import MessageSummary
from posthouse.store.api import Store
from posthouse.store.models import SEEN, Mailbox

# a mailbox's uid list is read in slices of this many uids
_SLICE = 2000


@dataclass(frozen=True, slots=True)
class EmailCopy:
    """One copy of an Email: a message row in one mailbox."""

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

    @classmethod
    async def load(cls, store: Store, user_id: int,
                   boxes: list[Mailbox] | None = None) -> AccountView:
        """Read the account (mailbox list first: see the module docstring); ``boxes``: the
        mailbox list the caller has just read."""
        if boxes is None:
            boxes = await store.list_mailboxes(user_id)
        view = cls(user_id, boxes, encode_state(boxes))
        for box in boxes:
            uids = [u.uid for u in await store.uid_list(box.id)]
            for start in range(0, len(uids), _SLICE):
                metas = await store.fetch_meta(box.id, uids[start:start + _SLICE],
                                               with_summary=True)
                for meta in metas:
                    email_id = objectid.email_id(meta.blob_id)
                    record = view.emails.get(email_id)
                    if record is None:
                        summary = meta.summary
                        thread = (objectid.thread_id(summary, meta.blob_id) if summary
                                  else "T" + meta.blob_id[:32])
                        record = EmailRecord(email_id, meta.blob_id, thread, meta.size,
                                             meta.internaldate, summary)
                        view.emails[email_id] = record
                    record.copies.append(EmailCopy(box.id, meta.uid, meta.modseq, meta.flags))
                    view.by_copy[(box.id, meta.uid)] = email_id
            await asyncio.sleep(0)  # a big account does not hold the loop
        for record in sorted(view.emails.values(), key=lambda r: (r.received_at, r.id)):
            view.threads.setdefault(record.thread_id, []).append(record.id)
        return view

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
    (one ``list_mailboxes`` read tells; any change to the messages moves a modseq)."""

    def __init__(self, store: Store, keep: int = 64) -> None:
        self.store = store
        self.keep = keep
        self._views: dict[int, AccountView] = {}

    async def current(self, user_id: int) -> AccountView:
        """The account as of now."""
        boxes = await self.store.list_mailboxes(user_id)
        cached = self._views.pop(user_id, None)
        if cached is None or cached.state != encode_state(boxes):
            cached = await AccountView.load(self.store, user_id, boxes)
        self._views[user_id] = cached  # most recent last
        while len(self._views) > self.keep:
            del self._views[next(iter(self._views))]
        return cached
