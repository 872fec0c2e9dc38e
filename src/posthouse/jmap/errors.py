"""JMAP errors as values (RFC 8620 3.6): request-level problems and method-level errors.

A request-level problem is answered as an RFC 7807 ``application/problem+json`` document
with the HTTP status; a method-level error becomes an ``["error", {...}, callId]`` response
in place of the method's own. Every type name used anywhere is here.
"""

from __future__ import annotations

from typing import Any

REQUEST_ERROR_PREFIX = "urn:ietf:params:jmap:error:"

# RFC 8620 3.6.1 request-level types
UNKNOWN_CAPABILITY = "unknownCapability"
NOT_JSON = "notJSON"
NOT_REQUEST = "notRequest"
LIMIT = "limit"

# RFC 8620 3.6.2 method-level types (and 5.x, RFC 8621 additions)
UNKNOWN_METHOD = "unknownMethod"
INVALID_ARGUMENTS = "invalidArguments"
INVALID_RESULT_REFERENCE = "invalidResultReference"
FORBIDDEN = "forbidden"
ACCOUNT_NOT_FOUND = "accountNotFound"
ACCOUNT_NOT_SUPPORTED = "accountNotSupportedByMethod"
ACCOUNT_READ_ONLY = "accountReadOnly"
SERVER_FAIL = "serverFail"
SERVER_UNAVAILABLE = "serverUnavailable"
REQUEST_TOO_LARGE = "requestTooLarge"
STATE_MISMATCH = "stateMismatch"
CANNOT_CALCULATE_CHANGES = "cannotCalculateChanges"
ANCHOR_NOT_FOUND = "anchorNotFound"
UNSUPPORTED_SORT = "unsupportedSort"
UNSUPPORTED_FILTER = "unsupportedFilter"
TOO_MANY_CHANGES = "tooManyChanges"  # 5.6 /queryChanges past maxChanges
FROM_ACCOUNT_NOT_FOUND = "fromAccountNotFound"  # 5.4 /copy
FROM_ACCOUNT_NOT_SUPPORTED = "fromAccountNotSupportedByMethod"

# SetError types (RFC 8620 5.3, RFC 8621 2.3 / 4.6)
NOT_FOUND = "notFound"
INVALID_PROPERTIES = "invalidProperties"
SINGLETON = "singleton"
MAILBOX_HAS_CHILD = "mailboxHasChild"
MAILBOX_HAS_EMAIL = "mailboxHasEmail"
OVER_QUOTA = "overQuota"
BLOB_NOT_FOUND = "blobNotFound"


class JmapRequestProblem(Exception):
    """The whole request is refused (RFC 8620 3.6.1)."""

    def __init__(self, kind: str, detail: str, *, status: int = 400,
                 limit: str | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.status = status
        self.limit = limit

    def document(self) -> dict[str, Any]:
        """The problem details object (RFC 7807 3.1)."""
        doc: dict[str, Any] = {"type": REQUEST_ERROR_PREFIX + self.kind,
                               "status": self.status, "detail": self.detail}
        if self.limit is not None:
            doc["limit"] = self.limit
        return doc


class JmapMethodError(Exception):
    """One method call fails; the others go on (RFC 8620 3.6.2)."""

    def __init__(self, kind: str, description: str = "", **extra: Any) -> None:
        super().__init__(description or kind)
        self.kind = kind
        self.description = description
        self.extra = extra

    def arguments(self) -> dict[str, Any]:
        """The arguments of the ``error`` response."""
        out: dict[str, Any] = {"type": self.kind, **self.extra}
        if self.description:
            out["description"] = self.description
        return out


def invalid(description: str) -> JmapMethodError:
    """The common case: invalidArguments with a reason."""
    return JmapMethodError(INVALID_ARGUMENTS, description)


def set_error(kind: str, description: str = "", **extra: Any) -> dict[str, Any]:
    """A SetError object (RFC 8620 5.3)."""
    out: dict[str, Any] = {"type": kind, **extra}
    if description:
        out["description"] = description
    return out
