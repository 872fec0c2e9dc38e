"""The limits a JMAP server announces and enforces (RFC 8620 2, the core capability)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"
SUBMISSION = "urn:ietf:params:jmap:submission"  # RFC 8621 1.3.2
VACATION = "urn:ietf:params:jmap:vacationresponse"  # RFC 8621 1.3.3
WEBSOCKET = "urn:ietf:params:jmap:websocket"  # RFC 8887 4.1


@dataclass(frozen=True)
class JmapLimits:
    """Announced in the session resource and refused past, before any processing."""

    max_size_upload: int = 50 * 1024 * 1024
    max_concurrent_upload: int = 4
    # below [http] max_body_bytes (app.py takes the min), so JMAP answers with its "limit"
    max_size_request: int = 512 * 1024
    max_concurrent_requests: int = 4
    max_calls_in_request: int = 32
    max_objects_in_get: int = 500
    max_objects_in_set: int = 500

    def core_capability(self) -> dict[str, Any]:
        """The value of ``urn:ietf:params:jmap:core`` (RFC 8620 2)."""
        return {
            "maxSizeUpload": self.max_size_upload,
            "maxConcurrentUpload": self.max_concurrent_upload,
            "maxSizeRequest": self.max_size_request,
            "maxConcurrentRequests": self.max_concurrent_requests,
            "maxCallsInRequest": self.max_calls_in_request,
            "maxObjectsInGet": self.max_objects_in_get,
            "maxObjectsInSet": self.max_objects_in_set,
            # RFC 4790 names; "i;unicode-casemap" (RFC 5051) is what text filters use
            "collationAlgorithms": ["i;ascii-numeric", "i;ascii-casemap", "i;unicode-casemap"],
        }


def mail_capability() -> dict[str, Any]:
    """The session-level value of ``urn:ietf:params:jmap:mail`` (RFC 8621 1.3.1: empty)."""
    return {}


def mail_account_capability() -> dict[str, Any]:
    """The account-level value of ``urn:ietf:params:jmap:mail`` (RFC 8621 1.3.1)."""
    return {
        "maxMailboxesPerEmail": None,
        "maxMailboxDepth": None,
        "maxSizeMailboxName": 255,
        "maxSizeAttachmentsPerEmail": 50 * 1024 * 1024,
        "emailQuerySortOptions": ["receivedAt", "size", "from", "to", "subject", "sentAt"],
        "mayCreateTopLevelMailbox": True,
    }
