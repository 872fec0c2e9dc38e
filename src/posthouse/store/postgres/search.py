"""SEARCH on text (BODY, TEXT, header fields) in PostgreSQL, the same on every node.

IMAP SEARCH string matching is a case-insensitive substring test (RFC 9051 6.4.4). Each
summary row keeps its text lower-cased by posthouse (Python's ``str.lower``, so the answer
does not depend on the server's locale): ``body_lc`` (decoded body text), ``text_lc``
(header lines and body) and ``headers_lc`` (each header field). The text is written in the
delivery's own transaction, so nothing is ever pending. Body and text needles of three
characters or more go through a pg_trgm GIN index (``LIKE '%needle%'``, confirmed by the
index's recheck); shorter ones, and header fields, are a scan of the mailbox's rows. FROM,
TO, CC and BCC read the summary's narrow ``summary_addresses`` row (schema v4, the same
lower-cased values as ``headers_lc``) instead of the summary row and its jsonb.
"""

from __future__ import annotations

from posthouse.store.postgres.msgreads import require_mailbox
from posthouse.store.postgres.pool import Tx

_COLUMN = {"body": "s.body_lc", "text": "s.text_lc"}
_ADDRESS_COLUMNS = {"from": "a.from_lc", "to": "a.to_lc", "cc": "a.cc_lc", "bcc": "a.bcc_lc"}
_BY_ADDRESS = ("SELECT m.uid FROM messages m JOIN summary_addresses a ON a.blob_id = m.blob_id"
               " WHERE m.mailbox_id = %s AND ")


def _like_pattern(needle: str) -> str:
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _header_name_ok(name: str) -> bool:
    return bool(name) and all("!" <= ch <= "~" and ch != ":" for ch in name)


async def search_text(tx: Tx, mailbox_id: int, needle: str, *, field: str) -> set[int]:
    """Uids whose ``field`` contains ``needle``, case-insensitively."""
    await require_mailbox(tx, mailbox_id)
    field = field.lower()
    lowered = needle.lower()
    base = ("SELECT m.uid FROM messages m JOIN summaries s ON s.blob_id = m.blob_id"
            " WHERE m.mailbox_id = %s AND ")
    if field in _ADDRESS_COLUMNS:
        rows = await tx.all(_BY_ADDRESS + f"strpos({_ADDRESS_COLUMNS[field]}, %s) > 0",
                            (mailbox_id, lowered))
    elif field in _COLUMN:
        rows = await tx.all(base + f"{_COLUMN[field]} LIKE %s",
                            (mailbox_id, _like_pattern(lowered)))
    elif _header_name_ok(field):
        rows = await tx.all(base + "strpos(s.headers_lc ->> %s, %s) > 0",
                            (mailbox_id, field, lowered))
    else:
        return set()
    return {row[0] for row in rows}
