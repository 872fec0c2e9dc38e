"""What one MIME parse of a message yields for the store (MessageSummary), and the types of
the functions that make it (Summarizer, TextExtractor).

Types only, with no import from posthouse: the store imports this module and never the
parser (summary.py, mime.py); app.py hands it the functions when it builds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """The MIME parse cached at delivery, so IMAP never re-parses a blob for metadata.

    ``envelope`` and ``bodystructure`` are JSON texts produced and read by posthouse.message;
    the store keeps them opaque. ``headers`` maps lower-cased field names (from, to, cc, bcc,
    subject, message-id, ...) to decoded values for SEARCH. The body text for the full-text
    index is not part of it: the store's indexer takes it from the message after delivery.
    """

    envelope: str
    bodystructure: str
    headers: dict[str, str] = field(default_factory=dict)
    sent_date: datetime | None = None


# One parse of a whole message (CRLF line ends) that never raises: summary.summarize.
Summarizer: TypeAlias = Callable[[bytes], MessageSummary]
# The searchable body text of a whole message, for the full-text index: summary.message_text.
TextExtractor: TypeAlias = Callable[[bytes], str]
