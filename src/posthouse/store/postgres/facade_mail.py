"""The mailbox and message parts of PostgresStore's async facade."""

from __future__ import annotations

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
from posthouse.store.postgres import (
    blobrefs,
    counters,
    holds,
    mailboxes,
    messages,
    metadata,
    msgreads,
    search,
)
from posthouse.store.postgres.core import PgCore
from posthouse.store.uidlist import UidFlagsList


class PgMailboxesFacade(PgCore):
    """Mailboxes of a user and their subscriptions."""

    async def list_mailboxes(self, user_id: int) -> list[Mailbox]:
        """All mailboxes of a user, sorted by name."""
        return await self._read(lambda tx: mailboxes.list_mailboxes(tx, user_id))

    async def get_mailbox(self, user_id: int, name: str) -> Mailbox | None:
        """One mailbox by name, or None."""
        return await self._read(lambda tx: mailboxes.get_mailbox(tx, user_id, name))

    async def get_mailbox_by_id(self, mailbox_id: int) -> Mailbox | None:
        """One mailbox by id, or None."""
        return await self._read(lambda tx: mailboxes.get_mailbox_by_id(tx, mailbox_id))

    async def create_mailbox(self, user_id: int, name: str, *, special_use: str | None = None,
                             origin: object = None) -> Mailbox:
        """Create a mailbox (MailboxExists, InvalidMailboxName)."""
        return await self._write(lambda tx: mailboxes.create_mailbox(
            tx, user_id, name, special_use=special_use, origin=origin))

    async def delete_mailbox(self, user_id: int, name: str, *, origin: object = None) -> None:
        """Delete a mailbox and its messages."""
        await self._write(lambda tx: mailboxes.delete_mailbox(tx, user_id, name, origin=origin))

    async def rename_mailbox(self, user_id: int, old: str, new: str, *,
                             origin: object = None) -> None:
        """Rename a mailbox and its children (INBOX: its messages move)."""
        await self._write(lambda tx: mailboxes.rename_mailbox(tx, user_id, old, new,
                                                              origin=origin))

    async def set_subscribed(self, user_id: int, name: str, subscribed: bool, *,
                             origin: object = None) -> None:
        """(Un)subscribe a name."""
        await self._write(lambda tx: mailboxes.set_subscribed(tx, user_id, name, subscribed,
                                                              origin=origin))

    async def list_subscriptions(self, user_id: int) -> list[str]:
        """Subscribed names, existing or not."""
        return await self._read(lambda tx: mailboxes.list_subscriptions(tx, user_id))

    async def mailbox_counts(self, mailbox_id: int) -> MailboxCounts:
        """Counts for STATUS/STAT (NoSuchMailbox)."""
        return await self._read(lambda tx: mailboxes.mailbox_counts(tx, mailbox_id))

    async def claim_recent(self, mailbox_id: int) -> int:
        """Move the \\Recent mark to uidnext-1; return the previous mark."""
        return await self._write(lambda tx: mailboxes.claim_recent(tx, mailbox_id))

    async def get_metadata(self, user_id: int, mailbox_id: int, names: Sequence[str], *,
                           depth: int | None = 0) -> list[tuple[str, bytes]]:
        """METADATA entries by name and depth (mailbox_id 0: the server's)."""
        return await self._read(
            lambda tx: metadata.get_metadata(tx, user_id, mailbox_id, names, depth))

    async def set_metadata(self, user_id: int, mailbox_id: int,
                           entries: Sequence[tuple[str, bytes | None]], *, max_entries: int,
                           origin: object | None = None) -> None:
        """Set or delete entries, all or none."""
        await self._write(lambda tx: metadata.set_metadata(
            tx, user_id, mailbox_id, entries, max_entries=max_entries, origin=origin))

    async def set_server_metadata(self, name: str, value: bytes | None) -> None:
        """The operator sets (None: deletes) a server /shared/ entry."""
        await self._write(lambda tx: metadata.set_server_metadata(tx, name, value))

    async def adopt_uidvalidity(self, mailbox_id: int, uidvalidity: int) -> None:
        """Take another store's UIDVALIDITY while no uid was given out."""
        await self._write(lambda tx: counters.adopt_uidvalidity(tx, mailbox_id, uidvalidity))

    async def reserve_uids(self, mailbox_id: int, uidnext: int) -> None:
        """Raise uidnext to at least ``uidnext``."""
        await self._write(lambda tx: counters.reserve_uids(tx, mailbox_id, uidnext))


class PgMessagesFacade(PgCore):
    """Messages in mailboxes and their blobs."""

    async def deliver(self, message: NewMessage, targets: Sequence[DeliveryTarget], *,
                      outbound: OutboundEnvelope | None = None,
                      reserve: bool = False) -> list[tuple[int, int]]:
        """Store once, file into every target, queue for ``outbound``: one transaction."""
        blob = await self._blob_in(message)
        chosen = tuple(targets)
        return await self._write(lambda tx: messages.deliver(
            tx, blob, chosen, internaldate=message.internaldate, outbound=outbound))

    async def append(self, mailbox_id: int, message: NewMessage,
                     flags: frozenset[str] = frozenset(), *,
                     origin: object = None) -> tuple[int, int]:
        """IMAP APPEND: store into one mailbox; returns (uidvalidity, uid)."""
        blob = await self._blob_in(message)
        return await self._write(lambda tx: messages.append(
            tx, mailbox_id, blob, flags=flags, internaldate=message.internaldate,
            origin=origin))

    async def import_messages(self, mailbox_id: int, items: Sequence[ImportedMessage], *,
                              origin: object = None) -> list[int | StoreError]:
        """One transaction per message, in order; per message its uid or its error."""
        results: list[int | StoreError] = []
        for item in items:
            try:
                results.append(await self._import_one(mailbox_id, item, origin))
            except StoreError as exc:
                results.append(exc)
        return results

    async def _import_one(self, mailbox_id: int, item: ImportedMessage, origin: object) -> int:
        blob = await self._blob_in(item.message)
        _, uid = await self._write(lambda tx: messages.append(
            tx, mailbox_id, blob, flags=item.flags, internaldate=item.message.internaldate,
            origin=origin, at_uid=item.uid))
        return uid

    async def uid_list(self, mailbox_id: int) -> UidFlagsList:
        """Every message's uid, modseq and flags in uid order, held compactly."""
        return UidFlagsList.of(await self._read(lambda tx: msgreads.uid_list(tx, mailbox_id)))

    async def uids_by_flags(self, mailbox_id: int) -> list[tuple[frozenset[str], list[int]]]:
        """Every message's uid grouped by its flag set."""
        return await self._read(lambda tx: msgreads.uids_by_flags(tx, mailbox_id))

    async def fetch_meta(self, mailbox_id: int, uids: Sequence[int], *,
                         with_summary: bool = False) -> list[StoredMessage]:
        """Metadata of the given uids that still exist, in uid order."""
        chosen = tuple(uids)
        return await self._read(lambda tx: msgreads.fetch_meta(
            tx, mailbox_id, chosen, with_summary=with_summary))

    async def message_list(self, mailbox_id: int,
                           fields: Sequence[str] = ()) -> list[ListedMessage]:
        """Every message's metadata in uid order with the named header fields."""
        names = tuple(fields)
        return await self._read(lambda tx: msgreads.message_list(tx, mailbox_id, names))

    async def read_summaries(self, blob_ids: Sequence[str]) -> dict[str, MessageSummary]:
        """The cached parse of each content that has one, by blob id."""
        chosen = tuple(blob_ids)
        if not chosen:
            return {}
        return await self._read(lambda tx: msgreads.summaries(tx, chosen))

    async def changed_since(self, mailbox_id: int, modseq: int) -> set[int]:
        """Uids of the messages whose modseq is above ``modseq``."""
        return await self._read(lambda tx: msgreads.changed_since(tx, mailbox_id, modseq))

    async def expunged_since(self, mailbox_id: int, modseq: int) -> ExpungedSince:
        """Uids expunged with a modseq above ``modseq``."""
        return await self._read(lambda tx: msgreads.expunged_since(tx, mailbox_id, modseq))

    async def expunged_content_since(self, mailbox_id: int, modseq: int) -> ExpungedContent:
        """Tombstones above ``modseq`` with their blob ids."""
        return await self._read(
            lambda tx: msgreads.expunged_content_since(tx, mailbox_id, modseq))

    async def compact_tombstones(self, mailbox_id: int, keep: int) -> int:
        """Drop all but the ``keep`` newest tombstones of a mailbox."""
        return await self._write(lambda tx: messages.compact_tombstones(tx, mailbox_id, keep))

    async def open_view(self, mailbox_id: int) -> int:
        """Register a session's view of a mailbox (in the database: every node sees it)."""
        node = self.view_node
        view_id, modseq = await self._write(lambda tx: holds.open_view(tx, mailbox_id, node))
        self.known_up_to(mailbox_id, modseq)  # the view reads its uid list after this
        return view_id

    async def close_view(self, view_id: int) -> None:
        """The view is gone: what only it still addressed is freed."""
        await self._write(lambda tx: holds.release(tx, view_id, None))

    async def release_expunged(self, view_id: int, uids: Sequence[int]) -> None:
        """The view was told of these expunges (or never knew the uids)."""
        chosen = tuple(uids)
        if chosen:
            await self._write(lambda tx: holds.release(tx, view_id, chosen))

    async def fetch_expunged(self, view_id: int, uids: Sequence[int], *,
                             with_summary: bool = False) -> list[StoredMessage]:
        """Metadata of expunged messages the view still holds, in uid order."""
        chosen = tuple(uids)
        return await self._read(lambda tx: msgreads.fetch_expunged(
            tx, view_id, chosen, with_summary=with_summary))

    async def read_blob(self, blob_id: str) -> bytes:
        """The raw bytes of a message (NotFound)."""
        return await self._read(lambda tx: blobrefs.read(tx, blob_id))

    async def read_blobs(self, blob_ids: Sequence[str]) -> dict[str, bytes]:
        """The raw bytes of several messages in one read; ids not found are left out."""
        chosen = tuple(blob_ids)
        if not chosen:
            return {}
        return await self._read(lambda tx: blobrefs.read_many(tx, chosen))

    async def store_flags(self, mailbox_id: int, uids: Sequence[int], op: FlagOp,
                          flags: frozenset[str], *, unchanged_since: int | None = None,
                          origin: object = None) -> tuple[list[UidFlags], list[int]]:
        """Change flags; returns (changed, uids failing UNCHANGEDSINCE)."""
        chosen = tuple(uids)
        return await self._write(lambda tx: messages.store_flags(
            tx, mailbox_id, chosen, op, flags, unchanged_since=unchanged_since, origin=origin))

    async def expunge(self, mailbox_id: int, uids: Sequence[int] | None = None, *,
                      origin: object = None) -> list[int]:
        """Remove messages flagged \\Deleted (all, or only among ``uids``)."""
        chosen = None if uids is None else tuple(uids)
        return await self._write(lambda tx: messages.expunge(tx, mailbox_id, chosen,
                                                             origin=origin))

    async def delete_messages(self, mailbox_id: int, uids: Sequence[int], *,
                              origin: object = None) -> list[int]:
        """Remove exactly these messages, flagged or not."""
        chosen = tuple(uids)
        return await self._write(lambda tx: messages.delete_messages(tx, mailbox_id, chosen,
                                                                     origin=origin))

    async def copy(self, src_mailbox_id: int, uids: Sequence[int], dst_mailbox_id: int, *,
                   origin: object = None) -> list[tuple[int, int]]:
        """Copy messages; returns (source uid, new uid) pairs (QuotaExceeded)."""
        chosen = tuple(uids)
        return await self._write(lambda tx: messages.copy(
            tx, src_mailbox_id, chosen, dst_mailbox_id, move=False, origin=origin))

    async def move(self, src_mailbox_id: int, uids: Sequence[int], dst_mailbox_id: int, *,
                   origin: object = None) -> list[tuple[int, int]]:
        """Move messages atomically; returns (source uid, new uid) pairs."""
        chosen = tuple(uids)
        return await self._write(lambda tx: messages.copy(
            tx, src_mailbox_id, chosen, dst_mailbox_id, move=True, origin=origin))

    async def search_text(self, mailbox_id: int, needle: str, *, field: str) -> set[int]:
        """Uids whose ``field`` ("body", "text" or a header name) contains ``needle``."""
        return await self._read(lambda tx: search.search_text(tx, mailbox_id, needle,
                                                              field=field))

    async def catch_up_index(self) -> None:
        """Nothing to wait for: the search text is committed with each message."""

    async def quota_usage(self, user_id: int) -> tuple[int, int]:
        """(bytes used, message count) over all of a user's mailboxes."""
        return await self._read(lambda tx: msgreads.quota_usage(tx, user_id))
