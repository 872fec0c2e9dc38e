"""SEARCH on text: BODY, TEXT and header fields (reader threads).

IMAP SEARCH string matching is a case-insensitive substring test (RFC 9051 6.4.4). The FTS5
trigram index narrows the candidates for needles of three characters or more; every hit is
then confirmed with ``ph_icontains`` (a Python function registered on reader connections),
which is also the whole test for short needles or when no trigram index exists.
"""

from __future__ import annotations

import sqlite3

from posthouse.store.sqlite.msgreads import require_mailbox

_FROM = (
    "SELECT m.uid FROM messages m JOIN summaries s ON s.blob_id = m.blob_id"
    " JOIN fts f ON f.rowid = s.id WHERE m.mailbox_id = :mailbox"
)
# With the trigram index the match runs in the FTS table first (one index lookup) and only
# the confirmed blobs are intersected with the mailbox: no per-row FTS call or Python check.
_INDEXED = (
    "SELECT m.uid FROM messages m WHERE m.mailbox_id = :mailbox AND m.blob_id IN ("
    "SELECT s.blob_id FROM fts f JOIN summaries s ON s.id = f.rowid"
    " WHERE f.fts MATCH :query AND {condition})"
)
_TRIGRAM = 3


def _phrase(needle: str) -> str:
    """An FTS5 phrase matching the needle literally."""
    return '"' + needle.replace('"', '""') + '"'


def _header_path(name: str) -> str | None:
    """A JSON path to a header in the stored map; None for a name no header can have."""
    if not name or any(ch in '"\\:' or not "!" <= ch <= "~" for ch in name):
        return None
    return f'$."{name}"'


def _condition(field: str) -> tuple[str, str | None] | None:
    """(confirming SQL condition, FTS column filter) for a field; None if it cannot match."""
    if field == "body":
        return "ph_icontains(f.body, :needle)", "body"
    if field == "text":
        return "(ph_icontains(f.headers, :needle) OR ph_icontains(f.body, :needle))", None
    if _header_path(field) is None:
        return None
    return "ph_icontains(json_extract(s.headers, :path), :needle)", "headers"


def search_text(
    conn: sqlite3.Connection, mailbox_id: int, needle: str, *, field: str, trigram: bool
) -> set[int]:
    """Uids whose ``field`` contains ``needle``, case-insensitively."""
    require_mailbox(conn, mailbox_id)
    field = field.lower()
    found = _condition(field)
    if found is None:
        return set()
    condition, column = found
    params: dict[str, object] = {
        "mailbox": mailbox_id,
        "needle": needle.lower(),
        "path": _header_path(field),
    }
    if trigram and len(needle) >= _TRIGRAM:
        query = _phrase(needle)
        params["query"] = f"{column} : {query}" if column else query
        sql = _INDEXED.format(condition=condition)
    else:
        sql = f"{_FROM} AND {condition}"
    return {row[0] for row in conn.execute(sql, params)}
