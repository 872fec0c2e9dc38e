"""The EmailSubmission records of an account (RFC 8621 7), kept in the store.

One JSON value per user in the store's RFC 5464 metadata (a private server entry, as
delivery/vacation.py keeps its settings: both backends hold it without a schema change),
read at the start of each EmailSubmission call and written after a change, so /get and
/changes survive a restart and agree across nodes. The newest ``KEEP`` records are kept;
RFC 8621 7 lets a server forget older ones. Two calls of one user that change records at
the same moment may lose one's record (last write wins); the mail itself is not affected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from posthouse.store.api import Store

ENTRY = "/private/vendor/posthouse/jmap-submissions"
KEEP = 200
_METADATA_ENTRIES = 10_000  # the entry must fit whatever IMAP's per-user limit allows


@dataclass
class SubmissionRecords:
    """One account's EmailSubmission objects, and a counter that is their state."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    counter: int = 0

    @property
    def state(self) -> str:
        return f"S{self.counter}"


async def load_records(store: Store, user_id: int) -> SubmissionRecords:
    """The user's records (none when the entry is missing or not ours: an IMAP client
    may have written it)."""
    found = dict(await store.get_metadata(user_id, 0, [ENTRY]))
    try:
        doc = json.loads(found[ENTRY]) if ENTRY in found else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("counter"), int) \
            or not isinstance(doc.get("items"), dict):
        return SubmissionRecords()
    items = {k: v for k, v in doc["items"].items() if isinstance(v, dict)}
    return SubmissionRecords(items, doc["counter"])


async def save_records(store: Store, user_id: int, records: SubmissionRecords, *,
                       origin: object | None = None) -> None:
    """Write the records, the newest ``KEEP`` of them."""
    kept = dict(list(records.items.items())[-KEEP:])
    value = json.dumps({"counter": records.counter, "items": kept},
                       separators=(",", ":")).encode()
    await store.set_metadata(user_id, 0, [(ENTRY, value)], max_entries=_METADATA_ENTRIES,
                             origin=origin)
