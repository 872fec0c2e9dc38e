"""store/events.py Subscription: order, take/drain, the waiter, the bound, on_event."""

from __future__ import annotations

import asyncio

from posthouse.store.events import EventHub, MessagesAdded


def _added(uid: int, mailbox: int = 1) -> MessagesAdded:
    return MessagesAdded(7, mailbox, (uid,), uid)


def test_events_come_in_order_and_take_does_not_block() -> None:
    hub = EventHub()
    sub = hub.subscribe(7)
    assert sub.take() is None
    assert sub.drain() == []
    hub.publish(_added(1))
    hub.publish(_added(2))
    hub.publish(MessagesAdded(8, 1, (9,), 9))  # another user's
    assert sub.take() == _added(1)
    hub.publish(_added(3))
    assert sub.drain() == [_added(2), _added(3)]
    assert sub.take() is None


def test_get_waits_for_the_next_event() -> None:
    async def main() -> MessagesAdded:
        hub = EventHub()
        sub = hub.subscribe(7)
        asyncio.get_running_loop().call_later(0.01, hub.publish, _added(4))
        event = await sub.get()
        assert isinstance(event, MessagesAdded)
        return event

    assert asyncio.run(main()) == _added(4)


def test_on_event_is_called_after_each_event_is_queued() -> None:
    hub = EventHub()
    sub = hub.subscribe(7)
    seen: list[int] = []
    sub.on_event = lambda: seen.append(len(sub.drain()))
    hub.publish(_added(1))
    sub.on_event = None
    hub.publish(_added(2))
    assert seen == [1]
    assert sub.drain() == [_added(2)]


def test_past_the_limit_only_the_kept_mailbox_queues() -> None:
    hub = EventHub()
    sub = hub.subscribe(7)
    sub.limit, sub.keep_mailbox = 1, 5
    hub.publish(_added(1, mailbox=2))
    hub.publish(_added(2, mailbox=2))  # dropped
    hub.publish(_added(3, mailbox=5))  # kept
    assert sub.overflowed
    assert sub.drain() == [_added(1, mailbox=2), _added(3, mailbox=5)]
    sub.close()
    hub.publish(_added(4))
    assert sub.take() is None
