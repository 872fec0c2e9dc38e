"""Domain errors of the store. Each protocol maps them to its wire codes in one table."""


class StoreError(Exception):
    """Base of every store error."""


class NotFound(StoreError):
    """A named thing (domain, user, alias, queue item) does not exist."""


class AlreadyExists(StoreError):
    """A thing with that name exists already."""


class NoSuchMailbox(NotFound):
    """The mailbox does not exist (IMAP: NO [NONEXISTENT])."""


class MailboxExists(AlreadyExists):
    """CREATE or RENAME onto an existing name (IMAP: NO [ALREADYEXISTS])."""


class InvalidMailboxName(StoreError):
    """A name that is empty, has control characters, bad hierarchy or would escape the store."""


class MailboxNotDeletable(StoreError):
    """INBOX cannot be deleted (IMAP: NO [CANNOT])."""


class MetadataTooMany(StoreError):
    """SETMETADATA would give the user more entries than allowed (IMAP: NO [METADATA
    TOOMANY], RFC 5464 4.3)."""


class MetadataReadOnly(StoreError):
    """A server /shared/ entry: no user may change it (IMAP: NO)."""


class QuotaExceeded(StoreError):
    """Storing would exceed the user's quota (IMAP: NO [OVERQUOTA]; SMTP 452 4.2.2)."""


class UidNotAvailable(StoreError):
    """An import asked for a uid below the mailbox's uidnext, or a UIDVALIDITY for a mailbox
    that has held messages under another one: uids only grow (RFC 9051 2.3.1.1)."""


class ModifiedSince(StoreError):
    """A conditional STORE found messages changed after UNCHANGEDSINCE."""


class StorageFailure(StoreError):
    """The backend could not write (disk full, I/O error). Nothing was committed."""


class StorageFull(StorageFailure):
    """The filesystem is full, or below the low-space threshold: nothing was written (SMTP 452
    4.3.1, IMAP NO [UNAVAILABLE]); temporary, the client tries again later."""
