"""Typed change events and the in-process hub that fans them out to subscribers.

Every committed change to a mailbox is published here after its commit, so IMAP sessions on
other devices (and IDLE) see it at once. A backend that spans nodes (PostgreSQL LISTEN/NOTIFY)
feeds remote changes into the same hub.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
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
class MailboxChange:
    """One name in a MailboxListChanged: ``kind`` is created, deleted, renamed (from
    ``old_name``), subscribed or unsubscribed."""

    kind: str
    name: str
    old_name: str | None = None


BOX_CREATED, BOX_DELETED, BOX_RENAMED = "created", "deleted", "renamed"
SUBSCRIBED, UNSUBSCRIBED = "subscribed", "unsubscribed"


@dataclass(frozen=True, slots=True)
class MailboxListChanged:
    """Mailboxes of this user were created, deleted, renamed or (un)subscribed: ``changes``
    names each (empty when a whole account went)."""

    user_id: int
    origin: object | None = None
    changes: tuple[MailboxChange, ...] = ()


SERVER_WIDE = 0  # the user_id of events every subscriber gets (server METADATA)


@dataclass(frozen=True, slots=True)
class MetadataChanged:
    """METADATA entries (RFC 5464) changed: of a mailbox, or of the server when
    ``mailbox_id`` is 0. Server /shared/ entries are everyone's: user_id SERVER_WIDE."""

    user_id: int
    mailbox_id: int
    entries: tuple[str, ...]
    origin: object | None = None


StoreEvent = (MessagesAdded | FlagsChanged | MessagesExpunged | MailboxListChanged
              | MetadataChanged)


def _mailbox_of(event: StoreEvent) -> int | None:
    if isinstance(event, MessagesAdded | FlagsChanged | MessagesExpunged):
        return event.mailbox_id
    return None


class Subscription:
    """One subscriber's ordered stream of events for one user. Close it when done.

    ``limit`` bounds what may wait (None: no bound): past it, events that are not about
    ``keep_mailbox`` are dropped and ``overflowed`` is set, so a session that does not
    read cannot make the server hold an unbounded backlog (IMAP NOTIFY's overflow, RFC 5465
    5.8). Events of ``keep_mailbox`` (the selected mailbox) are never dropped.

    Every logged-in IMAP session holds one, mostly idle (issue 15: memory per idle
    connection): the event deque and the waiter future exist only while used."""

    __slots__ = (
        "_events",
        "_hub",
        "_waiter",
        "keep_mailbox",
        "limit",
        "on_event",
        "overflowed",
        "user_id",
    )

    def __init__(self, hub: EventHub, user_id: int) -> None:
        self._hub = hub
        self.user_id = user_id
        self._events: deque[StoreEvent] | None = None  # None: nothing waits
        self._waiter: asyncio.Future[None] | None = None  # the waiting wait()/get()
        self.limit: int | None = None
        self.keep_mailbox: int | None = None
        self.overflowed = False
        # called after an event was queued: an IMAP session in IDLE wakes its read with it
        # instead of keeping a task in get() (issue 15)
        self.on_event: Callable[[], None] | None = None

    def put(self, event: StoreEvent) -> None:
        """Called by the hub on the event loop thread."""
        events = self._events
        if (self.limit is not None and events is not None and len(events) >= self.limit
                and _mailbox_of(event) != self.keep_mailbox):
            self.overflowed = True
            return
        if events is None:
            events = self._events = deque()
        events.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.on_event is not None:
            self.on_event()

    async def wait(self) -> None:
        """Return once an event waits (without taking it)."""
        while not self._events:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def get(self) -> StoreEvent:
        """Wait for the next event."""
        await self.wait()
        assert self._events is not None
        event = self._events.popleft()
        if not self._events:
            self._events = None
        return event

    @property
    def pending(self) -> bool:
        """Whether an event waits."""
        return bool(self._events)

    def take(self) -> StoreEvent | None:
        """The next waiting event, or None, without blocking."""
        events = self._events
        if not events:
            return None
        event = events.popleft()
        if not events:
            self._events = None
        return event

    def drain(self) -> list[StoreEvent]:
        """All events already waiting, without blocking."""
        events, self._events = self._events, None
        return list(events) if events else []

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
        # a dict per user, not a set: a quarter less memory per subscription (issue 15)
        self._subs: dict[int, dict[Subscription, None]] = {}

    def subscribe(self, user_id: int) -> Subscription:
        """Start receiving this user's events."""
        sub = Subscription(self, user_id)
        self._subs.setdefault(user_id, {})[sub] = None
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop a subscription; idempotent."""
        subs = self._subs.get(sub.user_id)
        if subs is not None:
            subs.pop(sub, None)
            if not subs:
                del self._subs[sub.user_id]

    def publish(self, event: StoreEvent) -> None:
        """Deliver an event to every subscription of its user (of every user when it is
        SERVER_WIDE)."""
        if event.user_id == SERVER_WIDE:
            subs = [sub for group in self._subs.values() for sub in group]
        else:
            subs = list(self._subs.get(event.user_id, ()))
        for sub in subs:
            sub.put(event)
