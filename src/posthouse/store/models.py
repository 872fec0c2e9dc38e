"""Domain values the store hands out and takes in. Frozen, free of SQL and of protocol syntax."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from posthouse.message.summary_model import MessageSummary

# Mailbox names are UTF-8 with "/" as the hierarchy delimiter; "INBOX" is always spelt so.
HIERARCHY_DELIMITER = "/"
INBOX = "INBOX"

# Special-use mailboxes every user has from the start (RFC 6154 attribute -> name).
DEFAULT_MAILBOXES: tuple[tuple[str, str | None], ...] = (
    (INBOX, None),
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
)

# The system flags (RFC 9051 2.3.2), in the order a FLAGS response lists them. Flags are
# case-insensitive; these are stored and sent in this canonical case.
ANSWERED = "\\Answered"
FLAGGED = "\\Flagged"
DELETED = "\\Deleted"
SEEN = "\\Seen"
DRAFT = "\\Draft"
SYSTEM_FLAGS: tuple[str, ...] = (ANSWERED, FLAGGED, DELETED, SEEN, DRAFT)
# \Recent is session state: never stored, never set by a client (RFC 3501 2.3.2; gone from
# RFC 9051).
RECENT = "\\Recent"
_CANONICAL_FLAGS = {f.lower(): f for f in (*SYSTEM_FLAGS, RECENT)}
_RECENT_KEY = RECENT.lower()


def canonical_flag(flag: str) -> str:
    """``flag`` in its canonical case if it is a system flag or \\Recent, else as given."""
    return _CANONICAL_FLAGS.get(flag.lower(), flag)


def is_system_flag(flag: str) -> bool:
    """Whether ``flag`` is a system flag or \\Recent, in any case."""
    return flag.lower() in _CANONICAL_FLAGS


def is_recent(flag: str) -> bool:
    """Whether ``flag`` is \\Recent, in any case."""
    return flag.lower() == _RECENT_KEY


@dataclass(frozen=True, slots=True)
class User:
    """A mail account. ``address`` is ``local@domain`` with both parts lower-cased."""

    id: int
    address: str
    password_hash: str
    quota_bytes: int = 0  # 0 means no quota
    pop3_keep: bool = False  # POP3 marks \Seen instead of deleting
    # SCRAM-SHA-256 secrets in the RFC 5803 text form (sasl.ScramSecrets.to_string()); None
    # for an account made before they existed, until its next password login fills them in.
    scram_secrets: str | None = field(default=None, repr=False)
    role: str = "user"  # one of ROLES; "admin" may log in to the web admin
    disabled: bool = False  # no login of any kind (mail is still accepted)


ROLES = ("user", "admin")


@dataclass(frozen=True, slots=True)
class Alias:
    """An address that forwards to one or more targets (local or remote addresses)."""

    address: str
    targets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Mailbox:
    """One folder of one user, with its IMAP counters."""

    id: int
    user_id: int
    name: str
    special_use: str | None
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    subscribed: bool
    # uids up to this mark are no longer \Recent (RFC 3501 2.3.2); read-only here, moved
    # only by MailboxStore.claim_recent.
    recent_mark: int = 0


@dataclass(frozen=True, slots=True)
class MailboxCounts:
    """Figures for IMAP STATUS and POP3 STAT."""

    messages: int
    unseen: int
    deleted: int
    size: int
    uidnext: int
    uidvalidity: int
    highestmodseq: int
    recent: int = 0  # messages still \Recent for the next session to select (RFC 3501)


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to be stored: raw bytes exactly as they will be served, and its parse
    (None: the store parses it itself, for delivery after the durable commit)."""

    data: bytes
    summary: MessageSummary | None
    internaldate: datetime


@dataclass(frozen=True, slots=True)
class ImportedMessage:
    """A message brought in from another store (Maildir, mbox, IMAP): its flags, and the
    uid it had there when it should keep it (None: the next free uid)."""

    message: NewMessage
    flags: frozenset[str] = frozenset()
    uid: int | None = None


@dataclass(frozen=True, slots=True)
class DeliveryTarget:
    """Where one copy of a delivered message goes."""

    user_id: int
    mailbox: str = INBOX
    flags: frozenset[str] = frozenset()
    # When set, the user's mailbox with this RFC 6154 attribute (wherever the user renamed
    # it); ``mailbox`` only if the user has none (\Junk for quarantined mail).
    special_use: str | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message in one mailbox, as SELECT/FETCH/POP3 see it (no body bytes)."""

    uid: int
    modseq: int
    flags: frozenset[str]
    internaldate: datetime
    size: int
    blob_id: str
    summary: MessageSummary | None = None  # filled only when asked for
    savedate: datetime | None = None  # when it was filed into this mailbox (RFC 8514)


class ListedMessage(NamedTuple):
    """One message of a mailbox as ``message_list`` reads it: StoredMessage's metadata and
    a few header fields of its summary, no parse (a tuple: a big mailbox makes many)."""

    uid: int
    modseq: int
    flags: frozenset[str]
    internaldate: datetime
    size: int
    blob_id: str
    fields: tuple[str | None, ...]  # the header fields asked for, None where absent


@dataclass(frozen=True, slots=True)
class UidFlags:
    """The minimum an IMAP session keeps per message: its uid, modseq and flags."""

    uid: int
    modseq: int
    flags: frozenset[str]


@dataclass(frozen=True, slots=True)
class ExpungedSince:
    """Uids expunged after a modseq (tombstones); ``complete`` is False when older
    tombstones were dropped, so other uids may be gone too (QRESYNC, RFC 7162 3.2.5.1)."""

    uids: tuple[int, ...]
    complete: bool


@dataclass(frozen=True, slots=True)
class ExpungedContent:
    """(uid, blob id) of the messages expunged after a modseq; the blob id is None for a
    tombstone made before schema version 8. ``complete`` as in ExpungedSince."""

    entries: tuple[tuple[int, str | None], ...]
    complete: bool


class FlagOp(enum.Enum):
    """How STORE combines the given flags with the message's flags."""

    ADD = "+"
    REMOVE = "-"
    REPLACE = ""


@dataclass(frozen=True, slots=True)
class OutboundRecipient:
    """One remote recipient with its RFC 3461 DSN parameters."""

    address: str
    notify: tuple[str, ...] = ()  # NEVER | SUCCESS, FAILURE, DELAY; empty = default
    orcpt: str | None = None


@dataclass(frozen=True, slots=True)
class OutboundEnvelope:
    """What the outbound queue needs besides the message bytes."""

    mail_from: str  # "" for the null reverse-path
    recipients: tuple[OutboundRecipient, ...]
    envid: str | None = None
    ret: str | None = None  # FULL | HDRS
    smtputf8: bool = False
    body: str | None = None  # 7BIT | 8BITMIME | BINARYMIME
    sender_user_id: int | None = None  # set when a local user submitted it (DKIM, bounces)
    requiretls: bool = False  # MAIL FROM ... REQUIRETLS (RFC 8689 4): relay only over TLS


class RecipientState(enum.Enum):
    """Per-recipient progress of a queued message."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class QueuedRecipient:
    """A recipient of a queued message and where its delivery stands."""

    id: int
    address: str
    state: RecipientState
    notify: tuple[str, ...]
    orcpt: str | None
    last_reply: str | None
    attempts: int


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """A message in the outbound queue."""

    id: int
    blob_id: str
    size: int
    envelope: OutboundEnvelope
    recipients: tuple[QueuedRecipient, ...]
    created: datetime
    next_attempt: datetime
    attempts: int
    last_error: str | None
    held: bool
    delay_warned: bool
