"""IMAP errors as protocol values: the response-code table and the one domain-error mapping.

Parsers raise ``ParseError`` (a RemoteProtocolError); handlers let store errors
(posthouse.store.errors) propagate; the session turns either into one tagged response with
``error_response``. Codes are those of RFC 9051 7.1 and RFC 5530, plus the extension codes
this server sends.
"""

from __future__ import annotations

import enum

from posthouse.imap.responses import Atom, Code, Status, Tagged, Value
from posthouse.store import errors as store_errors
from posthouse.wire.errors import RemoteProtocolError


class ResponseCode(enum.Enum):
    """Response codes (RFC 9051 7.1, RFC 5530, RFC 4315, RFC 7162, RFC 9208, RFC 3516)."""

    ALERT = "ALERT"
    ALREADYEXISTS = "ALREADYEXISTS"
    APPENDUID = "APPENDUID"
    AUTHENTICATIONFAILED = "AUTHENTICATIONFAILED"
    AUTHORIZATIONFAILED = "AUTHORIZATIONFAILED"
    BADCHARSET = "BADCHARSET"
    BADEVENT = "BADEVENT"  # RFC 5465 3: the events the server supports
    CANNOT = "CANNOT"
    CAPABILITY = "CAPABILITY"
    CLIENTBUG = "CLIENTBUG"
    CLOSED = "CLOSED"
    COMPRESSIONACTIVE = "COMPRESSIONACTIVE"  # RFC 4978 3
    CONTACTADMIN = "CONTACTADMIN"
    COPYUID = "COPYUID"
    CORRUPTION = "CORRUPTION"
    EXPIRED = "EXPIRED"
    EXPUNGEISSUED = "EXPUNGEISSUED"
    HASCHILDREN = "HASCHILDREN"
    HIGHESTMODSEQ = "HIGHESTMODSEQ"
    INUSE = "INUSE"
    LIMIT = "LIMIT"
    MAILBOXID = "MAILBOXID"  # RFC 8474 4.1
    METADATA = "METADATA"  # RFC 5464 5: LONGENTRIES n, MAXSIZE n, TOOMANY, NOPRIVATE
    MODIFIED = "MODIFIED"
    NOMODSEQ = "NOMODSEQ"
    NONEXISTENT = "NONEXISTENT"
    NOPERM = "NOPERM"
    NOTIFICATIONOVERFLOW = "NOTIFICATIONOVERFLOW"  # RFC 5465 5.8
    NOTSAVED = "NOTSAVED"
    OVERQUOTA = "OVERQUOTA"
    PARSE = "PARSE"
    PERMANENTFLAGS = "PERMANENTFLAGS"
    PRIVACYREQUIRED = "PRIVACYREQUIRED"
    READ_ONLY = "READ-ONLY"
    READ_WRITE = "READ-WRITE"
    SERVERBUG = "SERVERBUG"
    TOOBIG = "TOOBIG"
    TRYCREATE = "TRYCREATE"
    UIDNEXT = "UIDNEXT"
    UIDNOTSTICKY = "UIDNOTSTICKY"
    UIDREQUIRED = "UIDREQUIRED"  # RFC 9586 3.2
    UIDVALIDITY = "UIDVALIDITY"
    UNAVAILABLE = "UNAVAILABLE"
    UNKNOWN_CTE = "UNKNOWN-CTE"
    UNSEEN = "UNSEEN"
    USEATTR = "USEATTR"

    def code(self, *args: Value) -> Code:
        """This code as a response ``Code`` with arguments."""
        return Code(self.value, args)


SUPPORTED_CHARSETS = ("UTF-8", "US-ASCII")


class ImapError(Exception):
    """A command failed in a way the client is told about with a tagged NO or BAD."""

    def __init__(
        self, text: str, *, status: Status = Status.NO, code: Code | None = None
    ) -> None:
        super().__init__(text)
        self.text = text
        self.status = status
        self.code = code

    def response(self, tag: str) -> Tagged:
        """The tagged response for this error."""
        return Tagged(tag, self.status, self.text, self.code)


class ParseError(ImapError, RemoteProtocolError):
    """The command does not follow the grammar (BAD), or names something unsupported (NO)."""

    def __init__(
        self, text: str, *, status: Status = Status.BAD, code: Code | None = None
    ) -> None:
        super().__init__(text, status=status, code=code)


def bad_charset() -> ParseError:
    """SEARCH with a charset we do not support: NO [BADCHARSET (UTF-8 US-ASCII)] (9051 6.4.4)."""
    return ParseError(
        "Unsupported charset",
        status=Status.NO,
        code=ResponseCode.BADCHARSET.code([Atom(c) for c in SUPPORTED_CHARSETS]),
    )


# Domain error -> (status, code, text). The most specific class wins (checked in MRO order).
_STORE_TABLE: dict[type[store_errors.StoreError], tuple[Status, ResponseCode, str]] = {
    store_errors.NoSuchMailbox: (Status.NO, ResponseCode.NONEXISTENT, "No such mailbox"),
    store_errors.MailboxExists: (Status.NO, ResponseCode.ALREADYEXISTS, "Mailbox exists"),
    store_errors.InvalidMailboxName: (Status.NO, ResponseCode.CANNOT, "Invalid mailbox name"),
    store_errors.MailboxNotDeletable: (Status.NO, ResponseCode.CANNOT, "Cannot delete INBOX"),
    store_errors.QuotaExceeded: (Status.NO, ResponseCode.OVERQUOTA, "Quota exceeded"),
    store_errors.ModifiedSince: (Status.NO, ResponseCode.MODIFIED, "Modified since"),
    store_errors.MetadataReadOnly: (Status.NO, ResponseCode.NOPERM,
                                    "Server entries are set by the administrator"),
    # RFC 5530 3: UNAVAILABLE is a temporary failure; OVERQUOTA would blame the user's quota
    store_errors.StorageFull: (Status.NO, ResponseCode.UNAVAILABLE,
                               "Insufficient system storage, try again later"),
    store_errors.StorageFailure: (Status.NO, ResponseCode.UNAVAILABLE, "Storage unavailable"),
    store_errors.NotFound: (Status.NO, ResponseCode.NONEXISTENT, "Not found"),
    store_errors.AlreadyExists: (Status.NO, ResponseCode.ALREADYEXISTS, "Already exists"),
    store_errors.StoreError: (Status.NO, ResponseCode.SERVERBUG, "Internal error"),
}


def error_response(tag: str, exc: BaseException, *, target: bool = False) -> Tagged | None:
    """The tagged response for a parse or domain error, or None if ``exc`` is not one.

    ``target=True`` is for a mailbox that APPEND/COPY/MOVE write into: a missing one is
    answered ``NO [TRYCREATE]`` so the client may create it (RFC 9051 6.3.12, 6.4.7).
    """
    if isinstance(exc, ImapError):
        return exc.response(tag)
    if not isinstance(exc, store_errors.StoreError):
        return None
    if isinstance(exc, store_errors.MetadataTooMany):  # RFC 5464 4.3
        return Tagged(tag, Status.NO, "Too many metadata entries",
                      ResponseCode.METADATA.code(Atom("TOOMANY")))
    if target and isinstance(exc, store_errors.NoSuchMailbox):
        return Tagged(tag, Status.NO, "No such mailbox", ResponseCode.TRYCREATE.code())
    for cls in type(exc).__mro__:
        entry = _STORE_TABLE.get(cls)
        if entry is not None:
            status, code, text = entry
            if isinstance(exc, store_errors.InvalidMailboxName) and str(exc):
                text = f"{text}: {exc}"  # the rule it breaks (fixed texts of names.py)
            return Tagged(tag, status, text, code.code())
    return None  # pragma: no cover - StoreError itself is in the table


def server_bug(tag: str) -> Tagged:
    """The answer to an unexpected exception (logged by the session, never shown)."""
    return Tagged(tag, Status.NO, "Internal server error", ResponseCode.SERVERBUG.code())
