"""The header fields a message list asks for, kept per message content (issue 15).

A mail client's message list is ``UID FETCH 1:* (... BODY.PEEK[HEADER.FIELDS (FROM TO
SUBJECT DATE ...)])``, asked again at every session for the same messages. Cutting those
fields out of each message means reading its bytes on a store reader and scanning its header
on the event loop: most of that FETCH's cost, and under concurrent sessions the event loop
and the readers are what every command waits for. Here the encoded value of such a section
(what ``bytes_value`` gives for it) is kept by (blob id, field names).

Exact without invalidation: a blob id is the SHA-256 of the message's bytes (store/blobs.py),
and the value is a function of those bytes and the names alone, so an entry can never be
stale; a message expunged and freed only leaves an entry that ages out. Shared by every
session of the process (the key names the content, never a user), bounded by bytes, least
recently used first out; thread-safe (servers under test share a process).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

BUDGET_BYTES = 8 * 1024 * 1024
ENTRY_OVERHEAD = 200  # the key tuple, its blob id string and the dict slot, roughly

_Key = tuple[str, tuple[str, ...]]


class HeaderFieldsCache:
    """(blob id, field names) -> the encoded HEADER.FIELDS value of that message."""

    def __init__(self, budget_bytes: int = BUDGET_BYTES) -> None:
        self._budget = budget_bytes
        self._used = 0
        self._kept: OrderedDict[_Key, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, blob_id: str, names: tuple[str, ...]) -> bytes | None:
        """The kept value, or None."""
        key = (blob_id, names)
        with self._lock:
            value = self._kept.get(key)
            if value is not None:
                self._kept.move_to_end(key)
            return value

    def put(self, blob_id: str, names: tuple[str, ...], value: bytes) -> None:
        """Keep a value, dropping the least recently used ones past the budget."""
        size = len(value) + ENTRY_OVERHEAD
        if size > self._budget:
            return
        key = (blob_id, names)
        with self._lock:
            old = self._kept.pop(key, None)
            if old is not None:
                self._used -= len(old) + ENTRY_OVERHEAD
            self._kept[key] = value
            self._used += size
            while self._used > self._budget:
                _, dropped = self._kept.popitem(last=False)
                self._used -= len(dropped) + ENTRY_OVERHEAD

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._kept.clear()
            self._used = 0

    def __len__(self) -> int:
        return len(self._kept)


HEADER_FIELDS = HeaderFieldsCache()  # the process's: content-addressed, so safely shared
