"""One timer per event loop for the deadlines of all its connections (issue 15).

A loop timer (``loop.call_at``) costs about half a KiB under uvloop (its handle, the libuv
timer, the bound callback); with ten thousand idle connections, each waiting for its
autologout, that is several MiB. ``DeadlineQueue`` keeps the deadlines in a heap of small
tuples and arms one loop timer, for the earliest. A target is any object with a
``_deadline_entry`` attribute and a ``deadline_passed()`` method: ``at(when, target)``
replaces the target's entry (the old one stays in the heap, stale, until it comes up or the
heap is compacted), ``cancel(target)`` forgets it. Stale entries are dropped when they reach
the top, and the heap is rebuilt without them when they outnumber the live ones, so a
closed connection is not kept for the length of its old timeout.
"""

from __future__ import annotations

import asyncio
import heapq
import weakref
from typing import Protocol

_COMPACT_AT = 256  # stale entries tolerated before the heap is rebuilt without them


class Timed(Protocol):
    """What a DeadlineQueue calls back."""

    _deadline_entry: DeadlineEntry | None

    def deadline_passed(self) -> None:
        """The deadline given to ``DeadlineQueue.at`` has come."""


class DeadlineEntry:
    """One deadline in the heap, ordered by time only (48 bytes: a tuple with a
    tie-breaking counter would be twice that)."""

    __slots__ = ("target", "when")

    def __init__(self, when: float, target: Timed) -> None:
        self.when = when
        self.target = target

    def __lt__(self, other: DeadlineEntry) -> bool:
        return self.when < other.when


class DeadlineQueue:
    """The deadlines of one event loop; ``for_loop`` gives the loop's own."""

    __slots__ = ("__weakref__", "_handle", "_heap", "_loop", "_stale")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[DeadlineEntry] = []
        self._handle: asyncio.TimerHandle | None = None
        self._stale = 0

    def at(self, when: float, target: Timed) -> None:
        """Call ``target.deadline_passed()`` at ``when`` (loop time) instead of at its
        earlier deadline, if it had one."""
        if target._deadline_entry is not None:
            self._stale += 1
        entry = DeadlineEntry(when, target)
        target._deadline_entry = entry
        heapq.heappush(self._heap, entry)
        handle = self._handle
        if handle is None or when < handle.when():
            if handle is not None:
                handle.cancel()
            self._handle = self._loop.call_at(when, self._fire)
        self._maybe_compact()

    def cancel(self, target: Timed) -> None:
        """Forget the target's deadline."""
        if target._deadline_entry is not None:
            target._deadline_entry = None
            self._stale += 1
            self._maybe_compact()

    def __len__(self) -> int:
        """Entries in the heap, stale ones included (for tests)."""
        return len(self._heap)

    def _maybe_compact(self) -> None:
        if self._stale > _COMPACT_AT and self._stale * 2 > len(self._heap):
            self._heap = [e for e in self._heap if e.target._deadline_entry is e]
            heapq.heapify(self._heap)
            self._stale = 0

    def _fire(self) -> None:
        self._handle = None
        heap = self._heap
        now = self._loop.time()
        due: list[Timed] = []
        while heap and heap[0].when <= now:
            entry = heapq.heappop(heap)
            target = entry.target
            if target._deadline_entry is entry:
                target._deadline_entry = None
                due.append(target)
            else:
                self._stale = max(self._stale - 1, 0)
        if heap:
            self._handle = self._loop.call_at(heap[0].when, self._fire)
        for target in due:  # after re-arming: a callback may set a new deadline
            target.deadline_passed()


_QUEUES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DeadlineQueue] = (
    weakref.WeakKeyDictionary())


def for_loop(loop: asyncio.AbstractEventLoop) -> DeadlineQueue:
    """The loop's DeadlineQueue (made on first use)."""
    queue = _QUEUES.get(loop)
    if queue is None:
        queue = _QUEUES[loop] = DeadlineQueue(loop)
    return queue
