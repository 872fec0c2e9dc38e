"""The mailbox and message parts of SqliteStore's async facade."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Sequence

from posthouse.message.summary_model import MessageSummary
from posthouse.store.errors import StoreError
from posthouse.store.models import (
    DeliveryTarget,
    ExpungedContent,
    ExpungedSince,
    FlagOp,
    ImportedMessage,
    ListedMessage,
    Mailbox,
    MailboxCounts,
    NewMessage,
    OutboundEnvelope,
    StoredMessage,
    UidFlags,
)
from posthouse.store.sqlite import (
    blobrefs,
    counters,
    mailboxes,
    messages,
    metadata,
    msgreads,
    search,
)
from posthouse.store.sqlite.codec import field_names
from posthouse.store.sqlite.core import StoreCore
from posthouse.store.uidlist import UidFlagsList


class MailboxesFacade(StoreCore):
    """Mailboxes of a user and their subscriptions."""

    async def list_mailboxes(self, user_id: int) -> list[Mailbox]:
        """All mailboxes of a user, sorted by name."""
        return await self._read(lambda conn: mailboxes.list_mailboxes(conn, user_id))

    async def get_mailbox(self, user_id: int, name: str) -> Mailbox | None:
        """One mailbox by name, or None."""
        return await self._lookup(lambda conn: mailboxes.get_mailbox(conn, user_id, name))

    async def get_mailbox_by_id(self, mailbox_id: int) -> Mailbox | None:
        """One mailbox by id, or None."""
        return await self._lookup(lambda conn: mailboxes.get_mailbox_by_id(conn, mailbox_id))

    async def create_mailbox(
        self, user_id: int, name: str, *, special_use: str | None = None, origin: object = None
    ) -> Mailbox:
        """Create a mailbox and any missing parents (MailboxExists, InvalidMailboxName)."""
        return await self._write(
            lambda ctx: mailboxes.create_mailbox(
                ctx, user_id, name, special_use=special_use, origin=origin
            )
        )

    async def delete_mailbox(self, user_id: int, name: str, *, origin: object = None) -> None:
        """Delete a mailbox and its messages (NoSuchMailbox, MailboxNotDeletable)."""
        await self._write(lambda ctx: mailboxes.delete_mailbox(ctx, user_id, name, origin=origin))

    async def rename_mailbox(
        self, user_id: int, old: str, new: str, *, origin: object = None
    ) -> None:
        """Rename a mailbox and its children; INBOX is special (RFC 9051 6.3.6)."""
        await self._write(
            lambda ctx: mailboxes.rename_mailbox(ctx, user_id, old, new, origin=origin)
        )

    async def set_subscribed(
        self, user_id: int, name: str, subscribed: bool, *, origin: object = None
    ) -> None:
        """(Un)subscribe a name, existing or not."""
        await self._write(
            lambda ctx: mailboxes.set_subscribed(ctx, user_id, name, subscribed, origin=origin)
        )

    async def list_subscriptions(self, user_id: int) -> list[str]:
        """Subscribed names, existing or not."""
        return await self._read(lambda conn: mailboxes.list_subscriptions(conn, user_id))

    async def mailbox_counts(self, mailbox_id: int) -> MailboxCounts:
        """Counts for STATUS/STAT (NoSuchMailbox)."""
        return await self._read(lambda conn: mailboxes.mailbox_counts(conn, mailbox_id))

    async def claim_recent(self, mailbox_id: int) -> int:
        """Move the \\Recent mark to uidnext-1; return the previous mark.

        Every IMAP4rev1 SELECT claims, and mostly nothing arrived since the last claim: a
        point read then answers without a durable write (what a claim committed now would
        return; a message delivered after the read is claimed when the session learns of it,
        as one delivered after the write would be)."""
        settled = await self._lookup(lambda conn: mailboxes.settled_recent_mark(conn, mailbox_id))
        if settled is not None:
            return settled
        return await self._write(lambda ctx: mailboxes.claim_recent(ctx, mailbox_id))

    async def get_metadata(
        self, user_id: int, mailbox_id: int, names: Sequence[str], *, depth: int | None = 0,
    ) -> list[tuple[str, bytes]]:
        """METADATA entries by name and depth (mailbox_id 0: the server's)."""
        return await self._read(
            lambda conn: metadata.get_metadata(conn, user_id, mailbox_id, names, depth))

    async def set_metadata(
        self, user_id: int, mailbox_id: int, entries: Sequence[tuple[str, bytes | None]], *,
        max_entries: int, origin: object | None = None,
    ) -> None:
        """Set or delete entries, all or none (MetadataTooMany, MetadataReadOnly)."""
        await self._write(lambda ctx: metadata.set_metadata(
            ctx, user_id, mailbox_id, entries, max_entries=max_entries, origin=origin))

    async def set_server_metadata(self, name: str, value: bytes | None) -> None:
        """The operator sets (None: deletes) a server /shared/ entry."""
        await self._write(lambda ctx: metadata.set_server_metadata(ctx, name, value))

    async def adopt_uidvalidity(self, mailbox_id: int, uidvalidity: int) -> None:
        """Take another store's UIDVALIDITY while no uid was given out (UidNotAvailable)."""
        await self._write(lambda ctx: counters.adopt_uidvalidity(ctx, mailbox_id, uidvalidity))

    async def reserve_uids(self, mailbox_id: int, uidnext: int) -> None:
        """Raise uidnext to at least ``uidnext``."""
        await self._write(lambda ctx: counters.reserve_uids(ctx, mailbox_id, uidnext))


class MessagesFacade(StoreCore):
    """Messages in mailboxes and their blobs."""

    async def deliver(
        self,
        message: NewMessage,
        targets: Sequence[DeliveryTarget],
        *,
        outbound: OutboundEnvelope | None = None,
        reserve: bool = False,
    ) -> list[tuple[int, int]]:
        """Store once, file into every target, queue for ``outbound``: one transaction.

        A message without a summary gets one after the commit (see _write_message). Below
        the low-space threshold StorageFull, before anything is written (store/space.py),
        unless ``reserve`` (a notice owed for accepted mail)."""
        if not reserve:
            self.space.check(len(message.data))
        blob, fresh = await self._blob_in(message)
        targets = tuple(targets)
        return await self._write_message(
            lambda ctx: messages.deliver(
                ctx, blob, targets, internaldate=message.internaldate, outbound=outbound
            ),
            blob,
            fresh,
        )

    async def append(
        self,
        mailbox_id: int,
        message: NewMessage,
        flags: frozenset[str] = frozenset(),
        *,
        origin: object = None,
    ) -> tuple[int, int]:
        """IMAP APPEND: store into one mailbox; returns (uidvalidity, uid). A message without
        a summary gets one after the commit (see _write_message); StorageFull as deliver."""
        self.space.check(len(message.data))
        blob, fresh = await self._blob_in(message)
        return await self._write_message(
            lambda ctx: messages.append(
                ctx, mailbox_id, blob, flags=flags, internaldate=message.internaldate,
                origin=origin,
            ),
            blob,
            fresh,
        )

    async def import_messages(
        self, mailbox_id: int, items: Sequence[ImportedMessage], *, origin: object = None
    ) -> list[int | StoreError]:
        """One writer job per message, queued in order (so kept uids arrive in order) and
        sharing group commits; per message its uid or its error."""
        pending: list[asyncio.Future[tuple[int, int]] | StoreError] = []
        for item in items:
            try:
                self.space.check(len(item.message.data))
                blob, fresh = await self._blob_in(item.message)
            except StoreError as exc:
                pending.append(exc)
                continue
            job = functools.partial(
                messages.append, mailbox_id=mailbox_id, blob=blob, flags=item.flags,
                internaldate=item.message.internaldate, origin=origin, at_uid=item.uid,
            )
            pending.append(self._enqueue_message(job, blob, fresh))
        results: list[int | StoreError] = []
        for entry in pending:
            if isinstance(entry, StoreError):
                results.append(entry)
                continue
            try:
                results.append((await entry)[1])
            except StoreError as exc:
                results.append(exc)
        await self._summaries_filed()  # an import tool may close the store right after
        return results

    async def uid_list(self, mailbox_id: int) -> UidFlagsList:
        """Every message's uid, modseq and flags in uid order."""
        return await self._read(lambda conn: self.listings.read(conn, mailbox_id))

    async def uids_by_flags(self, mailbox_id: int) -> list[tuple[frozenset[str], list[int]]]:
        """Every message's uid grouped by its flag set (one entry per distinct set)."""
        return await self._read(lambda conn: self.listings.flag_groups(conn, mailbox_id))

    async def fetch_meta(
        self, mailbox_id: int, uids: Sequence[int], *, with_summary: bool = False
    ) -> list[StoredMessage]:
        """Metadata of the given uids that still exist, in uid order."""
        uids = tuple(uids)
        if with_summary:
            await self._summaries_filed()
        return await self._read(
            lambda conn: msgreads.fetch_meta(conn, mailbox_id, uids, with_summary=with_summary)
        )

    async def message_list(
        self, mailbox_id: int, fields: Sequence[str] = ()
    ) -> list[ListedMessage]:
        """Every message's metadata in uid order with the named header fields."""
        names = field_names(fields)
        if names:
            await self._summaries_filed()
        return await self._read(lambda conn: msgreads.message_list(conn, mailbox_id, names))

    async def read_summaries(self, blob_ids: Sequence[str]) -> dict[str, MessageSummary]:
        """The cached parse of each content that has one, by blob id."""
        chosen = tuple(blob_ids)
        if not chosen:
            return {}
        await self._summaries_filed()
        return await self._read(lambda conn: msgreads.summaries(conn, chosen))

    async def changed_since(self, mailbox_id: int, modseq: int) -> set[int]:
        """Uids of the messages whose modseq is above ``modseq``."""
        return await self._read(lambda conn: msgreads.changed_since(conn, mailbox_id, modseq))

    async def expunged_since(self, mailbox_id: int, modseq: int) -> ExpungedSince:
        """Uids expunged with a modseq above ``modseq``."""
        return await self._read(lambda conn: msgreads.expunged_since(conn, mailbox_id, modseq))

    async def expunged_content_since(self, mailbox_id: int, modseq: int) -> ExpungedContent:
        """Tombstones above ``modseq`` with their blob ids."""
        return await self._read(
            lambda conn: msgreads.expunged_content_since(conn, mailbox_id, modseq))

    async def compact_tombstones(self, mailbox_id: int, keep: int) -> int:
        """Drop all but the ``keep`` newest tombstones of a mailbox."""
        return await self._write(
            lambda ctx: messages.compact_tombstones(ctx, mailbox_id, keep))

    async def open_view(self, mailbox_id: int) -> int:
        """Register a session's view of a mailbox before its uid list is read; its id."""
        view_id = self.holds.new_view_id()
        if not self.holds.open_now(view_id, mailbox_id):
            await self._write(lambda ctx: self.holds.open_view(view_id, mailbox_id))
        return view_id

    async def close_view(self, view_id: int) -> None:
        """The view is gone: what only it still addressed is freed."""
        if not self.holds.close_now(view_id):  # lazy: open() recounts what a crash loses
            await self._write_lazy(lambda ctx: self.holds.release(ctx, view_id, None))

    async def release_expunged(self, view_id: int, uids: Sequence[int]) -> None:
        """The view was told of these expunges (or never knew the uids)."""
        chosen = tuple(uids)
        if self.holds.waits(view_id, chosen):  # lazy: open() recounts what a crash loses
            await self._write_lazy(lambda ctx: self.holds.release(ctx, view_id, chosen))

    async def fetch_expunged(
        self, view_id: int, uids: Sequence[int], *, with_summary: bool = False
    ) -> list[StoredMessage]:
        """Metadata of expunged messages the view has not been told of, in uid order."""
        metas = self.holds.expunged_meta(view_id, uids)
        if not with_summary or not metas:
            return metas
        ids = tuple({m.blob_id for m in metas})
        found = await self._read(lambda conn: msgreads.summaries(conn, ids))
        return [dataclasses.replace(m, summary=found[m.blob_id])
                for m in metas if m.blob_id in found]

    async def read_blob(self, blob_id: str) -> bytes:
        """The raw bytes of a message (NotFound)."""
        root = self.blob_root
        return await self._read(lambda conn: blobrefs.read(conn, root, blob_id))

    async def read_blobs(self, blob_ids: Sequence[str]) -> dict[str, bytes]:
        """The raw bytes of several messages in one read; ids not found are left out."""
        root, chosen = self.blob_root, tuple(blob_ids)
        if not chosen:
            return {}
        return await self._read(lambda conn: blobrefs.read_many(conn, root, chosen))

    async def store_flags(
        self,
        mailbox_id: int,
        uids: Sequence[int],
        op: FlagOp,
        flags: frozenset[str],
        *,
        unchanged_since: int | None = None,
        origin: object = None,
    ) -> tuple[list[UidFlags], list[int]]:
        """Change flags; returns (changed, uids failing UNCHANGEDSINCE)."""
        uids = tuple(uids)
        return await self._write(
            lambda ctx: messages.store_flags(
                ctx, mailbox_id, uids, op, flags, unchanged_since=unchanged_since, origin=origin
            )
        )

    async def expunge(
        self, mailbox_id: int, uids: Sequence[int] | None = None, *, origin: object = None
    ) -> list[int]:
        """Remove messages flagged \\Deleted (all, or only among ``uids``)."""
        chosen = None if uids is None else tuple(uids)
        return await self._write(
            lambda ctx: messages.expunge(ctx, mailbox_id, chosen, origin=origin,
                                         holds=self.holds)
        )

    async def delete_messages(
        self, mailbox_id: int, uids: Sequence[int], *, origin: object = None
    ) -> list[int]:
        """Remove exactly these messages, flagged or not."""
        uids = tuple(uids)
        return await self._write(
            lambda ctx: messages.delete_messages(ctx, mailbox_id, uids, origin=origin,
                                                 holds=self.holds)
        )

    async def copy(
        self, src_mailbox_id: int, uids: Sequence[int], dst_mailbox_id: int,
        *, origin: object = None,
    ) -> list[tuple[int, int]]:
        """Copy messages; returns (source uid, new uid) pairs (QuotaExceeded)."""
        uids = tuple(uids)
        return await self._write(
            lambda ctx: messages.copy(
                ctx, src_mailbox_id, uids, dst_mailbox_id, move=False, origin=origin
            )
        )

    async def move(
        self, src_mailbox_id: int, uids: Sequence[int], dst_mailbox_id: int,
        *, origin: object = None,
    ) -> list[tuple[int, int]]:
        """Move messages atomically; returns (source uid, new uid) pairs."""
        uids = tuple(uids)
        return await self._write(
            lambda ctx: messages.copy(
                ctx, src_mailbox_id, uids, dst_mailbox_id, move=True, origin=origin,
                holds=self.holds,
            )
        )

    async def search_text(self, mailbox_id: int, needle: str, *, field: str) -> set[int]:
        """Uids whose ``field`` ("body", "text" or a header name) contains ``needle``."""
        trigram, indexer = self._trigram, self.indexer
        indexer.urge()  # someone searches: bring the index up to date now
        await self._summaries_filed()
        return await self._read(
            lambda conn: search.search_text(
                conn, mailbox_id, needle, field=field, trigram=trigram,
                pending_text=indexer.text_for,
            )
        )

    async def catch_up_index(self) -> None:
        """Return once every message committed before the call is in the full-text index."""
        await asyncio.wrap_future(self.indexer.catch_up())

    async def quota_usage(self, user_id: int) -> tuple[int, int]:
        """(bytes used, message count) over all of a user's mailboxes."""
        return await self._lookup(lambda conn: msgreads.quota_usage(conn, user_id))
