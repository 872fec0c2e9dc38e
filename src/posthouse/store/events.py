"""Typed change events and the in-process hub that fans them out to subscribers.

Every committed change to a mailbox is published here after its commit, so IMAP sessions on
other devices (and IDLE) see it at once. A backend that spans nodes (PostgreSQL LISTEN/NOTIFY)
feeds remote changes into the same hub.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from posthouse.store.models import UidFlags


@dataclass(frozen=True, slots=True)
class MessagesAdded:
    """New messages (delivery, APPEND, COPY, MOVE) now exist in a mailbox."""

    user_id: int
    mailbox_id: int
    uids: tuple[int, ...]
    highestmodseq: int
    origin: object | None = None


@dataclass(frozen=True, slots=True)
class FlagsChanged:
    """Flags of some messages changed."""

    user_id: int
    mailbox_id: int
    changes: tuple[UidFlags, ...]
    highestmodseq: int
    origin: object | None = None


@dataclass(frozen=True, slots=True)
class MessagesExpunged:
    """Messages were removed from a mailbox (EXPUNGE, MOVE, POP3 QUIT)."""

    user_id: int
    mailbox_id: int
    uids: tuple[int, ...]
    highestmodseq: int
    origin: object | None = None


@dataclass(frozen=True, slots=True)
class MailboxListChanged:
    """A mailbox of this user was created, deleted, renamed or (un)subscribed."""

    user_id: int
    origin: object | None = None


StoreEvent = MessagesAdded | FlagsChanged | MessagesExpunged | MailboxListChanged


class Subscription:
    """One subscriber's ordered stream of events for one user. Close it when done."""

    def __init__(self, hub: EventHub, user_id: int) -> None:
        self._hub = hub
        self.user_id = user_id
        self._queue: asyncio.Queue[StoreEvent] = asyncio.Queue()

    def put(self, event: StoreEvent) -> None:
        """Called by the hub on the event loop thread."""
        self._queue.put_nowait(event)

    async def get(self) -> StoreEvent:
        """Wait for the next event."""
        return await self._queue.get()

    def drain(self) -> list[StoreEvent]:
        """All events already waiting, without blocking."""
        out: list[StoreEvent] = []
        while not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out

    def close(self) -> None:
        """Stop receiving events."""
        self._hub.unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[StoreEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[StoreEvent]:
        while True:
            yield await self.get()


class EventHub:
    """Fans events out to the subscriptions of the affected user (event loop thread only)."""

    def __init__(self) -> None:
        self._subs: dict[int, set[Subscription]] = {}

    def subscribe(self, user_id: int) -> Subscription:
        """Start receiving this user's events."""
        sub = Subscription(self, user_id)
        self._subs.setdefault(user_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop a subscription; idempotent."""
        subs = self._subs.get(sub.user_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.user_id]

    def publish(self, event: StoreEvent) -> None:
        """Deliver an event to every subscription of its user."""
        for sub in tuple(self._subs.get(event.user_id, ())):
            sub.put(event)
