"""SEARCH on text: BODY, TEXT and header fields (reader threads).

IMAP SEARCH string matching is a case-insensitive substring test (RFC 9051 6.4.4). Messages
come in two kinds (searchdb.py): those already in the full-text index (the search file,
attached to reader connections as ``idx``) and pending ones, newer than its ``upto``. In the
index, the FTS5 trigram match narrows the candidates for needles of three characters or
more and ``ph_icontains`` (a Python function registered on reader connections) confirms
each (SQLite's own instr/lower do when needle and value are both ASCII, ``_contains``);
it is the whole test for short needles, or when SQLite has no trigram tokenizer (a header
field then needs no index at all: every summary, indexed or pending, is tested in one pass).
Pending messages are tested directly: header fields from the summary's JSON, body text
decoded from the message itself.

FROM, TO, CC and BCC (and HEADER with those names) are tested against the summary's row in
``summary_addresses`` (schema v10), lower-cased by Python when the summary was filed: one
instr() per message over a short column (the same answer as ``ph_icontains`` on the JSON
value), instead of a JSON parse and a case fold of the whole header map (issue 15).

Both parts see one moment: the store's snapshot is taken first (require_mailbox), the index's
after it, and the indexer commits index rows and ``upto`` together, so a message the store
shows is either pending or indexed in what this read sees, never neither.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from posthouse.store.sqlite.codec import headers_text
from posthouse.store.sqlite.msgreads import require_mailbox
from posthouse.store.sqlite.searchdb import indexed_upto

# (reader connection, blob id) -> the body text of a pending message
TextSource = Callable[[sqlite3.Connection, str], str]

_SCAN = (
    "SELECT m.uid FROM messages m JOIN summaries s ON s.blob_id = m.blob_id"
    " JOIN idx.fts f ON f.rowid = s.id WHERE m.mailbox_id = :mailbox AND {condition}"
)
# A header field without the trigram narrowing needs the summaries only, indexed or pending
# alike: one pass over them, without reading each message's index row (its body text).
_SCAN_HEADERS = (
    "SELECT m.uid FROM messages m JOIN summaries s ON s.blob_id = m.blob_id{join}"
    " WHERE m.mailbox_id = :mailbox AND {condition}"
)
# With the trigram index the match runs in the FTS table first (one index lookup) and only
# the confirmed blobs are intersected with the mailbox: no per-row FTS call or Python check.
_INDEXED = (
    "SELECT m.uid FROM messages m WHERE m.mailbox_id = :mailbox AND m.blob_id IN ("
    "SELECT s.blob_id FROM idx.fts f JOIN summaries s ON s.id = f.rowid{join}"
    " WHERE f.fts MATCH :query AND {condition})"
)
# Driven from the few summaries above ``upto`` (a rowid range), then messages_blob: the cost
# follows the lag, not the mailbox size.
_PENDING = (
    "SELECT m.uid, s.id, s.blob_id, s.headers FROM summaries s"
    " CROSS JOIN messages m ON m.blob_id = s.blob_id AND m.mailbox_id = :mailbox{join}"
    " WHERE s.id > :upto"
)
# The address fields' columns (codec.SEARCHED_ADDRESSES), joined by summary id.
_ADDRESS_COLUMNS = {"from": "a.from_lc", "to": "a.to_lc", "cc": "a.cc_lc", "bcc": "a.bcc_lc"}
_ADDRESS_JOIN = " JOIN summary_addresses a ON a.id = s.id"
_TRIGRAM = 3


def _phrase(needle: str) -> str:
    """An FTS5 phrase matching the needle literally."""
    return '"' + needle.replace('"', '""') + '"'


def _header_path(name: str) -> str | None:
    """A JSON path to a header in the stored map; None for a name no header can have."""
    if not name or any(ch in '"\\:' or not "!" <= ch <= "~" for ch in name):
        return None
    return f'$."{name}"'


def _contains(value: str, ascii_needle: bool) -> str:
    """SQL: ``value`` contains ``:needle`` (lower-cased) as ``ph_icontains`` decides. An ASCII
    needle in an ASCII value (as many characters as bytes: no NUL, no multi-byte character)
    is tested inside SQLite, whose lower() folds ASCII letters exactly as Python's does
    there: no call back into Python per row. Any other value goes to ph_icontains."""
    if not ascii_needle:
        return f"ph_icontains({value}, :needle)"
    return (f"CASE WHEN length({value}) = length(CAST({value} AS BLOB))"
            f" THEN instr(lower({value}), :needle) > 0 ELSE ph_icontains({value}, :needle) END")


_HEADER_VALUE = "json_extract(s.headers, :path)"


def _condition(field: str, ascii_needle: bool) -> tuple[str, str | None] | None:
    """(confirming SQL condition, FTS column filter) for a field; None if it cannot match."""
    if field == "body":
        return _contains("f.body", ascii_needle), "body"
    if field == "text":
        return (f"({_contains('f.headers', ascii_needle)}"
                f" OR {_contains('f.body', ascii_needle)})"), None
    column = _ADDRESS_COLUMNS.get(field)
    if column is not None:  # already lower-cased: Python's fold, as ph_icontains does
        return f"instr({column}, :needle) > 0", "headers"
    if _header_path(field) is None:
        return None
    return _contains(_HEADER_VALUE, ascii_needle), "headers"


def _join(field: str) -> str:
    """The join a field's condition needs (its address row), if any."""
    return _ADDRESS_JOIN if field in _ADDRESS_COLUMNS else ""


def search_text(
    conn: sqlite3.Connection,
    mailbox_id: int,
    needle: str,
    *,
    field: str,
    trigram: bool,
    pending_text: TextSource,
) -> set[int]:
    """Uids whose ``field`` contains ``needle``, case-insensitively."""
    require_mailbox(conn, mailbox_id)  # first: the store's snapshot precedes the index's
    field = field.lower()
    found = _condition(field, needle.lower().isascii())
    if found is None:
        return set()
    condition, column = found
    params: dict[str, object] = {
        "mailbox": mailbox_id,
        "needle": needle.lower(),
        "path": _header_path(field),
        "upto": indexed_upto(conn, "idx"),
    }
    join = _join(field)
    if trigram and len(needle) >= _TRIGRAM:
        query = _phrase(needle)
        params["query"] = f"{column} : {query}" if column else query
        sql = _INDEXED.format(condition=condition, join=join)
    elif field not in ("body", "text"):
        sql = _SCAN_HEADERS.format(condition=condition, join=join)
        return {row[0] for row in conn.execute(sql, params)}
    else:
        sql = _SCAN.format(condition=condition)
    uids = {row[0] for row in conn.execute(sql, params)}
    return uids | _search_pending(conn, params, field, condition, pending_text)


def _search_pending(
    conn: sqlite3.Connection, params: dict[str, object], field: str, condition: str,
    pending_text: TextSource,
) -> set[int]:
    """The pending messages' matches (see the module docstring); ``condition`` is the
    header field's test."""
    if field not in ("body", "text"):
        pending = _PENDING.format(join=_join(field))
        return {row[0] for row in conn.execute(f"{pending} AND {condition}", params)}
    needle = str(params["needle"])
    verdicts: dict[int, bool] = {}  # per summary: a blob may be filed more than once
    uids: set[int] = set()
    for uid, summary_id, blob_id, headers in conn.execute(
            _PENDING.format(join=""), params).fetchall():
        hit = verdicts.get(summary_id)
        if hit is None:
            hit = needle in pending_text(conn, blob_id).lower() or (
                field == "text" and needle in headers_text(json.loads(headers)).lower())
            verdicts[summary_id] = hit
        if hit:
            uids.add(uid)
    return uids
