"""The store's ports: typing.Protocol interfaces split by aggregate.

Callers (delivery, IMAP/POP3 handlers, the queue, the CLI) depend only on these protocols and on
``models``/``errors``/``events``; ``app.py`` picks the backend (SQLite, or PostgreSQL by
``[store] url``).

Rules every backend keeps:
- A mutating call returns only after its transaction is durably committed (group commit:
  concurrent writers share one fsync). Then, and only then, its events are published.
- A mutating call either commits entirely or raises and commits nothing.
- Addresses are matched case-insensitively; users are stored lower-cased.
- Mailbox names are validated by the store (``InvalidMailboxName``); "INBOX" is matched
  case-insensitively and always returned as "INBOX".
- ``origin`` is an opaque token a session passes on its own changes; it comes back on the
  events so the session can tell its own changes from others'.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol

from posthouse.message.summary_model import MessageSummary
from posthouse.store.errors import StoreError
from posthouse.store.events import Subscription
from posthouse.store.maildrop_locks import HeldMaildrop
from posthouse.store.models import (
    Alias,
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
    QueuedMessage,
    StoredMessage,
    UidFlags,
    User,
)
from posthouse.store.uidlist import UidFlagsList


class AccountStore(Protocol):
    """Domains, users, aliases and catch-alls."""

    async def add_domain(self, name: str) -> None:
        """Add a local domain (AlreadyExists if present)."""

    async def remove_domain(self, name: str) -> None:
        """Remove a domain with its users and aliases (NotFound if absent)."""

    async def list_domains(self) -> list[str]:
        """All local domains, sorted."""

    async def is_local_domain(self, name: str) -> bool:
        """Whether mail for this domain is delivered here."""

    async def add_user(
        self, address: str, password_hash: str, *, quota_bytes: int = 0,
        scram_secrets: str | None = None,
    ) -> User:
        """Create a user with the default mailboxes (its domain must exist).

        ``scram_secrets``: the SCRAM-SHA-256 secrets of the same password, in the text form
        of ``sasl.ScramSecrets.to_string()``; None leaves them to the first password login.
        """

    async def get_user(self, address: str) -> User | None:
        """The user with exactly this address (case-insensitive), or None."""

    async def get_user_by_id(self, user_id: int) -> User | None:
        """The user with this id, or None."""

    async def list_users(self, domain: str | None = None) -> list[User]:
        """Users, optionally of one domain, sorted by address."""

    async def set_password(
        self, address: str, password_hash: str, *, scram_secrets: str | None = None
    ) -> None:
        """Replace a user's password hash and the SCRAM secrets of the same password (None
        clears them: the old ones must not outlive the old password). NotFound if absent."""

    async def fill_scram_secrets(
        self, user_id: int, scram_secrets: str, *, password_hash: str
    ) -> bool:
        """Store SCRAM secrets for an account that has none, only while its password hash is
        still ``password_hash`` (the one they were derived from). False if nothing changed."""

    async def set_user_options(
        self, address: str, *, quota_bytes: int | None = None, pop3_keep: bool | None = None,
        role: str | None = None, disabled: bool | None = None,
    ) -> User:
        """Change per-account options (``role``: one of models.ROLES; ``disabled``: no
        login of any kind); None leaves an option as it is."""

    async def remove_user(self, address: str) -> None:
        """Remove a user and all their mail (NotFound if absent)."""

    async def add_alias(self, address: str, targets: Sequence[str]) -> None:
        """Create or replace an alias; its domain must be local."""

    async def get_alias(self, address: str) -> Alias | None:
        """The alias with this address, or None."""

    async def list_aliases(self, domain: str | None = None) -> list[Alias]:
        """Aliases, optionally of one domain."""

    async def remove_alias(self, address: str) -> None:
        """Remove an alias (NotFound if absent)."""

    async def set_catchall(self, domain: str, target: str | None) -> None:
        """Set (or clear with None) the address that gets mail for unknown users of a domain."""

    async def get_catchall(self, domain: str) -> str | None:
        """The catch-all target of a domain, or None."""


class MailboxStore(Protocol):
    """Mailboxes of a user and their subscriptions."""

    async def list_mailboxes(self, user_id: int) -> list[Mailbox]:
        """All mailboxes of a user, sorted by name."""

    async def get_mailbox(self, user_id: int, name: str) -> Mailbox | None:
        """One mailbox by name, or None."""

    async def get_mailbox_by_id(self, mailbox_id: int) -> Mailbox | None:
        """One mailbox by id, or None."""

    async def create_mailbox(
        self, user_id: int, name: str, *, special_use: str | None = None, origin: object = None
    ) -> Mailbox:
        """Create a mailbox (MailboxExists, InvalidMailboxName)."""

    async def delete_mailbox(self, user_id: int, name: str, *, origin: object = None) -> None:
        """Delete a mailbox and its messages (NoSuchMailbox, MailboxNotDeletable for INBOX)."""

    async def rename_mailbox(
        self, user_id: int, old: str, new: str, *, origin: object = None
    ) -> None:
        """Rename a mailbox and its children. Renaming INBOX moves its messages to a new
        mailbox and leaves INBOX empty (RFC 9051 6.3.6)."""

    async def set_subscribed(
        self, user_id: int, name: str, subscribed: bool, *, origin: object = None
    ) -> None:
        """(Un)subscribe a name; a name need not exist to be subscribed (RFC 9051 6.3.7)."""

    async def list_subscriptions(self, user_id: int) -> list[str]:
        """Subscribed names, existing or not."""

    async def mailbox_counts(self, mailbox_id: int) -> MailboxCounts:
        """Counts for STATUS/STAT (NoSuchMailbox)."""

    async def claim_recent(self, mailbox_id: int) -> int:
        """Mark every message up to uidnext-1 as no longer \\Recent for other sessions and
        return the previous mark: uids above it are \\Recent for the caller (RFC 3501 2.3.2)."""

    async def get_metadata(
        self, user_id: int, mailbox_id: int, names: Sequence[str], *, depth: int | None = 0,
    ) -> list[tuple[str, bytes]]:
        """RFC 5464 entries of one of the user's mailboxes (mailbox_id 0: the server), each
        name with those ``depth`` levels below it (None: all), sorted (NoSuchMailbox). Names
        are lower-cased entry names; the server's /shared/ entries are the same for all."""

    async def set_metadata(
        self, user_id: int, mailbox_id: int, entries: Sequence[tuple[str, bytes | None]], *,
        max_entries: int, origin: object | None = None,
    ) -> None:
        """Set (None: delete) entries, all or none; MetadataTooMany when the user would own
        more than ``max_entries``, MetadataReadOnly for a server /shared/ entry. A mailbox's
        entries follow it through RENAME and go with DELETE. Publishes MetadataChanged (a
        server /shared/ entry set by the operator: to every user)."""

    async def set_server_metadata(self, name: str, value: bytes | None) -> None:
        """Set (None: delete) a server /shared/ entry: the operator's, never a user's."""

    async def adopt_uidvalidity(self, mailbox_id: int, uidvalidity: int) -> None:
        """Give a mailbox the UIDVALIDITY it had in another store, so that clients' caches
        stay valid after an import. Allowed while the mailbox has never held a message
        (uidnext 1) or already has this value; else UidNotAvailable. NoSuchMailbox."""

    async def reserve_uids(self, mailbox_id: int, uidnext: int) -> None:
        """Raise the mailbox's uidnext to at least ``uidnext`` (never lowers it): uids the
        other store had given out are not given again (NoSuchMailbox)."""


class MessageStore(Protocol):
    """Messages in mailboxes and their blobs."""

    async def deliver(
        self,
        message: NewMessage,
        targets: Sequence[DeliveryTarget],
        *,
        outbound: OutboundEnvelope | None = None,
        reserve: bool = False,
    ) -> list[tuple[int, int]]:
        """Store one message once and file it into every target mailbox; if ``outbound`` is
        given, queue it for those remote recipients in the same transaction. Returns
        (mailbox_id, uid) per target. All or nothing (QuotaExceeded, NoSuchMailbox).
        Below the low-space threshold StorageFull, unless ``reserve``: a notice the server
        owes for mail it already accepted (RFC 5321 6.1) may use the space kept back.

        A message without a summary is parsed by the store (SQLite: during the commit's
        fsync, filed just after it); no read ever shows the message without its summary."""

    async def append(
        self,
        mailbox_id: int,
        message: NewMessage,
        flags: frozenset[str] = frozenset(),
        *,
        origin: object = None,
    ) -> tuple[int, int]:
        """IMAP APPEND: store into one mailbox; returns (uidvalidity, uid)."""

    async def import_messages(
        self, mailbox_id: int, messages: Sequence[ImportedMessage], *, origin: object = None
    ) -> list[int | StoreError]:
        """File imported messages into one mailbox, in the order given; each is its own
        all-or-nothing write (a failure leaves the others alone). Per message: its uid, or
        the error (QuotaExceeded, StorageFull, UidNotAvailable when the uid it asks for is
        below uidnext). A message that keeps its uid raises uidnext past it."""

    async def uid_list(self, mailbox_id: int) -> UidFlagsList:
        """Every message's uid, modseq and flags in uid order (what SELECT needs), held
        compactly (uidlist.py)."""

    async def uids_by_flags(self, mailbox_id: int) -> list[tuple[frozenset[str], list[int]]]:
        """Every message's uid grouped by its flag set: one entry per distinct stored set,
        uids in no particular order (what SEARCH by flags needs)."""

    async def fetch_meta(
        self, mailbox_id: int, uids: Sequence[int], *, with_summary: bool = False
    ) -> list[StoredMessage]:
        """Metadata of the given uids that still exist, in uid order."""

    async def message_list(
        self, mailbox_id: int, fields: Sequence[str] = ()
    ) -> list[ListedMessage]:
        """Every message's metadata in uid order with the value of each named header field
        (lower-case names of ``MessageSummary.headers``; None where the message has no such
        field or no summary): one read, no summary parsed (JMAP's account view). A name
        holding a double quote or a backslash is a ValueError."""

    async def read_summaries(self, blob_ids: Sequence[str]) -> dict[str, MessageSummary]:
        """The cached parse of each content that has one, by blob id."""

    async def changed_since(self, mailbox_id: int, modseq: int) -> set[int]:
        """Uids of the messages whose modseq is above ``modseq`` (CHANGEDSINCE)."""

    async def expunged_since(self, mailbox_id: int, modseq: int) -> ExpungedSince:
        """Uids expunged with a modseq above ``modseq`` (tombstones, for QRESYNC)."""

    async def expunged_content_since(self, mailbox_id: int, modseq: int) -> ExpungedContent:
        """The same tombstones with the blob id each removed message held (None for
        tombstones older than that record), for JMAP Email/changes."""

    async def compact_tombstones(self, mailbox_id: int, keep: int) -> int:
        """Drop all but the ``keep`` newest tombstones; later answers for older modseqs
        are conservative. Returns how many were dropped."""

    async def open_view(self, mailbox_id: int) -> int:
        """Register a session's view of a mailbox (call it before reading its uid list);
        the view's id. While it is open, messages expunged from the mailbox stay readable
        to it (``fetch_expunged``, ``read_blobs``) until it releases them (RFC 2180 4.1)."""

    async def close_view(self, view_id: int) -> None:
        """The view is gone (deselected, logged out): what it alone held is freed."""

    async def release_expunged(self, view_id: int, uids: Sequence[int]) -> None:
        """The view's client was told of these expunges, or never knew the uids."""

    async def fetch_expunged(
        self, view_id: int, uids: Sequence[int], *, with_summary: bool = False
    ) -> list[StoredMessage]:
        """Metadata of expunged messages the view still holds, in uid order; their blobs
        stay readable until released."""

    async def read_blob(self, blob_id: str) -> bytes:
        """The raw bytes of a message."""

    async def read_blobs(self, blob_ids: Sequence[str]) -> dict[str, bytes]:
        """The raw bytes of several messages by blob id, in one store round trip; ids with
        no blob are absent from the result (the caller decides, as ``read_blob`` would
        raise NotFound). Duplicate ids are allowed."""

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
        """Change flags; returns (changed messages with new modseq, uids that failed the
        UNCHANGEDSINCE test). Messages whose flags do not change keep their modseq."""

    async def expunge(
        self, mailbox_id: int, uids: Sequence[int] | None = None, *, origin: object = None
    ) -> list[int]:
        """Remove messages flagged \\Deleted (all, or only among ``uids``); returns their uids."""

    async def delete_messages(
        self, mailbox_id: int, uids: Sequence[int], *, origin: object = None
    ) -> list[int]:
        """Remove exactly these messages, flagged or not (POP3 QUIT); returns removed uids."""

    async def copy(
        self, src_mailbox_id: int, uids: Sequence[int], dst_mailbox_id: int,
        *, origin: object = None,
    ) -> list[tuple[int, int]]:
        """Copy messages; returns (source uid, new uid) pairs (QuotaExceeded)."""

    async def move(
        self, src_mailbox_id: int, uids: Sequence[int], dst_mailbox_id: int,
        *, origin: object = None,
    ) -> list[tuple[int, int]]:
        """Move messages atomically; returns (source uid, new uid) pairs."""

    async def search_text(
        self, mailbox_id: int, needle: str, *, field: str
    ) -> set[int]:
        """Uids whose ``field`` contains ``needle`` case-insensitively. ``field`` is "body"
        (decoded text, via the full-text index), "text" (headers and body), or a lower-cased
        header name such as "subject" or "from"."""

    async def catch_up_index(self) -> None:
        """Return once every message committed before the call is in the full-text index.

        SEARCH never needs this (messages not indexed yet are searched directly); it is for
        tools and tests that look at the index itself."""

    async def quota_usage(self, user_id: int) -> tuple[int, int]:
        """(bytes used, message count) over all of a user's mailboxes."""


class QueueStore(Protocol):
    """The durable outbound queue."""

    async def enqueue(self, data: bytes, envelope: OutboundEnvelope) -> int:
        """Queue a message for remote recipients; returns the queue id."""

    async def due(self, now: datetime, limit: int,
                  exclude: Collection[int] = ()) -> list[QueuedMessage]:
        """Messages not held whose next attempt is due, oldest first; ``exclude`` names
        entries the caller is already working on."""

    async def get_queued(self, queue_id: int) -> QueuedMessage | None:
        """One queued message, or None."""

    async def list_queue(self) -> list[QueuedMessage]:
        """Every queued message."""

    async def record_recipient_result(
        self, recipient_id: int, *, delivered: bool, failed: bool, reply: str,
        durable: bool = True,
    ) -> None:
        """Record one recipient's outcome; delivered/failed end it, neither means retry.
        ``durable=False``: committed without an fsync of its own (durable with the next
        commit); for a delivery, losing it to a power failure means sending it again."""

    async def reschedule(
        self, queue_id: int, next_attempt: datetime, *, error: str | None,
        delay_warned: bool | None = None, count_attempt: bool = True,
    ) -> None:
        """Set the next attempt after a try that left recipients pending; an admin's
        "retry now" passes ``count_attempt=False`` so the backoff does not grow."""

    async def set_held(self, queue_id: int, held: bool) -> None:
        """Hold or release a queued message."""

    async def remove_queued(self, queue_id: int, *, settled: bool = False) -> None:
        """Drop a message from the queue (done or deleted by the admin). ``settled``: every
        recipient's end is durably recorded already, so the removal need not be durable by
        itself (a crash that loses it leaves an entry the queue's start-up sweep removes)."""


class Store(AccountStore, MailboxStore, MessageStore, QueueStore, Protocol):
    """The whole store, as app.py builds it."""

    async def open(self) -> None:
        """Create or migrate the schema and start the writer."""

    async def close(self) -> None:
        """Finish pending writes and release resources."""

    def subscribe(self, user_id: int) -> Subscription:
        """Receive every committed change event of one user."""

    async def lock_maildrop(self, user_id: int) -> HeldMaildrop | None:
        """POP3's lock on a user's maildrop (RFC 1939 8), or None while another POP3
        session holds it: in this process on SQLite, on any node on PostgreSQL (an advisory
        lock on a connection of its own, freed with it if the node dies)."""

    def has_room(self, size: int = 0) -> bool:
        """Whether new mail of ``size`` bytes would be taken now: False below the low-space
        threshold (``deliver`` and ``append`` then raise StorageFull)."""
