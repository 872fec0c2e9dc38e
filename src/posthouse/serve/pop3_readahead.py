"""Reading a POP3 maildrop's messages ahead of RETR/TOP, several per store round trip.

A POP3 client downloads the maildrop in message-number order, one RETR after another, each
waiting for the last. Reading one message per RETR costs a hop to a store reader thread per
message; ``ReadAhead`` reads the next messages in one ``read_blobs`` call (up to ``most``
messages or ``budget`` octets) and starts the next batch in the background when the client
takes the last one of a batch, so the store works while the bytes travel. It reads ahead only
while the requests come in order: a client jumping about gets one message per read, as before.

Memory per session stays below two batches (the one being sent from, the one being read).
The maildrop is fixed for the session (RFC 1939 5), so bytes read a moment early are the same
bytes; a message whose content is gone by the time it is read raises NotFound as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from posthouse.store.api import Store
from posthouse.store.errors import NotFound, StoreError

log = logging.getLogger("posthouse.pop3")

READ_AHEAD_MESSAGES = 64
READ_AHEAD_OCTETS = 512 * 1024


class ReadAhead:
    """The contents of one session's maildrop, handed out by uid, read in batches."""

    def __init__(self, store: Store, listing: Sequence[tuple[int, int, str]], *,
                 most: int = READ_AHEAD_MESSAGES, budget: int = READ_AHEAD_OCTETS) -> None:
        """``listing``: (uid, size, blob id) of every message, in message-number order."""
        self._store = store
        self._uids = [uid for uid, _, _ in listing]
        self._sizes = [size for _, size, _ in listing]
        self._blobs = [blob for _, _, blob in listing]
        self._position = {uid: i for i, uid in enumerate(self._uids)}
        self._most = max(1, most)
        self._budget = budget
        self._ready: dict[int, bytes] = {}  # position -> content, read and not yet handed out
        self._ahead: asyncio.Task[None] | None = None
        self._ahead_span = range(0)  # positions the background read covers
        self._last = -1  # position handed out last
        self.reads = 0  # store round trips made (tests count them)

    async def content(self, uid: int) -> bytes:
        """The stored bytes of message ``uid`` (NotFound when its content is gone)."""
        pos = self._position[uid]
        in_order = pos == self._last + 1
        self._last = pos
        if pos not in self._ready and self._ahead is not None and pos in self._ahead_span:
            with contextlib.suppress(StoreError):  # read again below, errors and all
                await asyncio.shield(self._ahead)
        data = self._ready.pop(pos, None)
        if data is None:
            if not in_order:
                self._ready.clear()  # a client jumping about: drop what was read for order
            span = self._span(pos) if in_order else range(pos, pos + 1)
            await self._read(span)
            data = self._ready.pop(pos, None)
            if data is None:
                raise NotFound(f"message uid {uid} is gone")
        if in_order and not self._ready and self._ahead is None:
            self._start_ahead(pos + 1)
        return data

    def close(self) -> None:
        """Stop a background read (the session is over)."""
        if self._ahead is not None:
            self._ahead.cancel()
            self._ahead = None
        self._ready.clear()

    def _span(self, start: int) -> range:
        """Positions from ``start``: at most ``most`` messages and ``budget`` octets (one
        message at least)."""
        end, octets = start, 0
        while end < len(self._uids) and end - start < self._most:
            octets += self._sizes[end]
            if end > start and octets > self._budget:
                break
            end += 1
        return range(start, end)

    async def _read(self, span: range) -> None:
        ids = [self._blobs[p] for p in span]
        self.reads += 1
        found = await self._store.read_blobs(ids)
        for p in span:
            data = found.get(self._blobs[p])
            if data is not None:
                self._ready[p] = data

    def _start_ahead(self, start: int) -> None:
        if start >= len(self._uids):
            return
        span = self._span(start)
        self._ahead_span = span
        self._ahead = asyncio.get_running_loop().create_task(self._read_ahead(span))

    async def _read_ahead(self, span: range) -> None:
        try:
            await self._read(span)
        except StoreError:  # the RETR that needs it reads again and reports
            log.debug("read-ahead failed", exc_info=True)
        finally:
            self._ahead = None
