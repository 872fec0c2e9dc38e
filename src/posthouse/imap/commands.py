"""One frozen dataclass per IMAP command, with parsed and typed fields.

Commands carry no tag: the session pairs the RawCommand's tag with the parsed command.
Mailbox names are already decoded (modified UTF-7 or UTF-8) and ``INBOX`` is canonical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from posthouse.imap.fetchitems import FetchItem
from posthouse.imap.notify import NotifySpec
from posthouse.imap.search import SearchKey
from posthouse.imap.sequence import SequenceSet
from posthouse.store.models import FlagOp


class ImapCommand:
    """Base of every command; ``NAME`` is the command word as the client spells it."""

    __slots__ = ()
    NAME: ClassVar[str] = ""


# -- any state ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CapabilityCommand(ImapCommand):
    NAME = "CAPABILITY"


@dataclass(frozen=True, slots=True)
class NoopCommand(ImapCommand):
    NAME = "NOOP"


@dataclass(frozen=True, slots=True)
class LogoutCommand(ImapCommand):
    NAME = "LOGOUT"


@dataclass(frozen=True, slots=True)
class IdCommand(ImapCommand):
    """RFC 2971: ``params`` is None for ``ID NIL``."""

    NAME = "ID"
    params: tuple[tuple[str, str | None], ...] | None = None


# -- not authenticated -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StartTLSCommand(ImapCommand):
    NAME = "STARTTLS"


@dataclass(frozen=True, slots=True)
class AuthenticateCommand(ImapCommand):
    """``initial_response`` is None without SASL-IR, else the client's text as sent (base64,
    ``=`` for an empty response, RFC 4959): the SASL mechanism decodes it."""

    NAME = "AUTHENTICATE"
    mechanism: str
    initial_response: bytes | None = None


@dataclass(frozen=True, slots=True)
class LoginCommand(ImapCommand):
    NAME = "LOGIN"
    user: str
    password: str = field(repr=False)


# -- authenticated -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CompressCommand(ImapCommand):
    """RFC 4978; the mechanism upper-cased."""

    NAME = "COMPRESS"
    mechanism: str


@dataclass(frozen=True, slots=True)
class EnableCommand(ImapCommand):
    """RFC 5161; capability names upper-cased."""

    NAME = "ENABLE"
    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class QresyncParams:
    """``QRESYNC (uidvalidity modseq [known-uids [seq-match-data]])`` (RFC 7162 3.2.5)."""

    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    seq_match: tuple[SequenceSet, SequenceSet] | None = None


@dataclass(frozen=True, slots=True)
class SelectCommand(ImapCommand):
    NAME = "SELECT"
    mailbox: str
    condstore: bool = False
    qresync: QresyncParams | None = None


@dataclass(frozen=True, slots=True)
class ExamineCommand(ImapCommand):
    NAME = "EXAMINE"
    mailbox: str
    condstore: bool = False
    qresync: QresyncParams | None = None


@dataclass(frozen=True, slots=True)
class CreateCommand(ImapCommand):
    """``special_use`` from ``CREATE name (USE (\\Drafts))`` (RFC 6154 3)."""

    NAME = "CREATE"
    mailbox: str
    special_use: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeleteCommand(ImapCommand):
    NAME = "DELETE"
    mailbox: str


@dataclass(frozen=True, slots=True)
class RenameCommand(ImapCommand):
    NAME = "RENAME"
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class SubscribeCommand(ImapCommand):
    NAME = "SUBSCRIBE"
    mailbox: str


@dataclass(frozen=True, slots=True)
class UnsubscribeCommand(ImapCommand):
    NAME = "UNSUBSCRIBE"
    mailbox: str


@dataclass(frozen=True, slots=True)
class ListCommand(ImapCommand):
    """LIST, with the RFC 5258 / RFC 5819 / RFC 6154 options upper-cased.

    ``extended`` is True when any LIST-EXTENDED syntax was used (selection options, several
    patterns or RETURN), which changes what the answer may contain (RFC 5258 3). A pattern
    that does not decode is None: it matches no name.
    """

    NAME = "LIST"
    reference: str
    patterns: tuple[str | None, ...]
    select: frozenset[str] = frozenset()
    returns: frozenset[str] = frozenset()
    status_items: tuple[str, ...] = ()
    extended: bool = False
    metadata: MetadataRequest | None = None  # RETURN (METADATA (...)), RFC 9590


@dataclass(frozen=True, slots=True)
class MetadataRequest:
    """What RFC 9590's METADATA return option asks for: entry names (lower-cased) and the
    GETMETADATA options MAXSIZE and DEPTH (None: no limit, infinity)."""

    entries: tuple[str, ...]
    maxsize: int | None = None
    depth: int | None = 0


@dataclass(frozen=True, slots=True)
class LsubCommand(ImapCommand):
    NAME = "LSUB"
    reference: str
    pattern: str | None  # None: it does not decode, so it matches no name


@dataclass(frozen=True, slots=True)
class NamespaceCommand(ImapCommand):
    NAME = "NAMESPACE"


@dataclass(frozen=True, slots=True)
class StatusCommand(ImapCommand):
    """Items upper-cased: MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT
    HIGHESTMODSEQ."""

    NAME = "STATUS"
    mailbox: str
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AppendMessage:
    """One message of an APPEND (several with MULTIAPPEND, RFC 3502)."""

    data: bytes = field(repr=False)
    flags: frozenset[str] = frozenset()
    internaldate: datetime | None = None
    binary: bool = False  # sent as literal8 (RFC 3516 4.4)
    utf8: bool = False  # sent as UTF8 (~{n}) (RFC 6855 4)


@dataclass(frozen=True, slots=True)
class AppendCommand(ImapCommand):
    NAME = "APPEND"
    mailbox: str
    messages: tuple[AppendMessage, ...]

    @property
    def flags(self) -> frozenset[str]:
        """Flags of the first (usually only) message."""
        return self.messages[0].flags

    @property
    def internaldate(self) -> datetime | None:
        """Date of the first message."""
        return self.messages[0].internaldate

    @property
    def data(self) -> bytes:
        """Octets of the first message."""
        return self.messages[0].data


@dataclass(frozen=True, slots=True)
class IdleCommand(ImapCommand):
    NAME = "IDLE"


@dataclass(frozen=True, slots=True)
class NotifyCommand(ImapCommand):
    """``NOTIFY SET ...`` (``spec``) or ``NOTIFY NONE`` (None), RFC 5465 3."""

    NAME = "NOTIFY"
    spec: NotifySpec | None


@dataclass(frozen=True, slots=True)
class GetQuotaCommand(ImapCommand):
    NAME = "GETQUOTA"
    root: str


@dataclass(frozen=True, slots=True)
class GetQuotaRootCommand(ImapCommand):
    NAME = "GETQUOTAROOT"
    mailbox: str


@dataclass(frozen=True, slots=True)
class SetQuotaCommand(ImapCommand):
    """RFC 9208 4.3; the server may answer NO."""

    NAME = "SETQUOTA"
    root: str
    limits: tuple[tuple[str, int], ...]


# -- selected ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class GetMetadataCommand(ImapCommand):
    """RFC 5464 4.2: ``mailbox`` "" is the server; entry names lower-cased; ``depth`` None
    is infinity; ``maxsize`` None: no limit."""

    NAME = "GETMETADATA"
    mailbox: str
    entries: tuple[str, ...]
    maxsize: int | None = None
    depth: int | None = 0


@dataclass(frozen=True, slots=True)
class SetMetadataCommand(ImapCommand):
    """RFC 5464 4.3: (entry, value) pairs, None deletes; ``mailbox`` "" is the server."""

    NAME = "SETMETADATA"
    mailbox: str
    entries: tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True, slots=True)
class CheckCommand(ImapCommand):
    NAME = "CHECK"


@dataclass(frozen=True, slots=True)
class CloseCommand(ImapCommand):
    NAME = "CLOSE"


@dataclass(frozen=True, slots=True)
class UnselectCommand(ImapCommand):
    NAME = "UNSELECT"


@dataclass(frozen=True, slots=True)
class UnauthenticateCommand(ImapCommand):
    NAME = "UNAUTHENTICATE"  # RFC 8437


@dataclass(frozen=True, slots=True)
class ExpungeCommand(ImapCommand):
    NAME = "EXPUNGE"


@dataclass(frozen=True, slots=True)
class UidExpungeCommand(ImapCommand):
    NAME = "UID EXPUNGE"
    sequence: SequenceSet


@dataclass(frozen=True, slots=True)
class SearchCommand(ImapCommand):
    """``returns`` is None for a plain SEARCH, else the ESEARCH RETURN options (RFC 4731;
    ``RETURN ()`` means ``ALL``). ``charset`` is the upper-cased CHARSET or None."""

    NAME = "SEARCH"
    criteria: SearchKey
    charset: str | None = None
    returns: frozenset[str] | None = None
    uid: bool = False


@dataclass(frozen=True, slots=True)
class FetchCommand(ImapCommand):
    """``changedsince``: CONDSTORE (RFC 7162 3.1.4); ``vanished``: QRESYNC (3.2.6)."""

    NAME = "FETCH"
    sequence: SequenceSet
    items: tuple[FetchItem, ...]
    uid: bool = False
    changedsince: int | None = None
    vanished: bool = False


@dataclass(frozen=True, slots=True)
class StoreCommand(ImapCommand):
    """``unchangedsince`` is the CONDSTORE modifier hook (RFC 7162 3.1.3)."""

    NAME = "STORE"
    sequence: SequenceSet
    op: FlagOp
    flags: frozenset[str]
    silent: bool = False
    uid: bool = False
    unchangedsince: int | None = None


@dataclass(frozen=True, slots=True)
class CopyCommand(ImapCommand):
    NAME = "COPY"
    sequence: SequenceSet
    mailbox: str
    uid: bool = False


@dataclass(frozen=True, slots=True)
class MoveCommand(ImapCommand):
    NAME = "MOVE"
    sequence: SequenceSet
    mailbox: str
    uid: bool = False


COMMAND_TYPES: tuple[type[ImapCommand], ...] = (
    CapabilityCommand,
    NoopCommand,
    LogoutCommand,
    IdCommand,
    StartTLSCommand,
    AuthenticateCommand,
    LoginCommand,
    CompressCommand,
    EnableCommand,
    SelectCommand,
    ExamineCommand,
    CreateCommand,
    DeleteCommand,
    RenameCommand,
    SubscribeCommand,
    UnsubscribeCommand,
    ListCommand,
    LsubCommand,
    NamespaceCommand,
    StatusCommand,
    AppendCommand,
    IdleCommand,
    NotifyCommand,
    GetQuotaCommand,
    GetQuotaRootCommand,
    SetQuotaCommand,
    GetMetadataCommand,
    SetMetadataCommand,
    CheckCommand,
    CloseCommand,
    UnselectCommand,
    UnauthenticateCommand,
    ExpungeCommand,
    UidExpungeCommand,
    SearchCommand,
    FetchCommand,
    StoreCommand,
    CopyCommand,
    MoveCommand,
)
