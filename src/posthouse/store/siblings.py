"""Store change events between the worker processes of one server (``[server] workers``).

Each worker's store publishes its own commits' events to its hub (its sessions see them at
once, with their origins) and sends them to the other workers over the sibling link
(net/siblings.py); what arrives from a sibling is published to this worker's hub with no
origin, as PostgreSQL's LISTEN does for other nodes. So IMAP IDLE in one process sees a
delivery accepted by another. A large event travels as several messages of at most
MOST_IDS ids each, in order; every part carries the event's highest modseq.

A worker that was not running when an event was sent misses it: it has no session that
could have wanted it, and what a new session shows is read from the store.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from posthouse.net.siblings import MAX_DATAGRAM, SiblingLink
from posthouse.store.event_codec import event_body, event_from_body, split_body
from posthouse.store.events import EventHub, MessagesAdded, StoreEvent

EVENTS = b"E"  # the message kind on the link
MOST_IDS = 500
log = logging.getLogger("posthouse.store")


class EventRelay:
    """Publish locally and to the siblings; publish what the siblings send."""

    def __init__(self, link: SiblingLink, hub: EventHub,
                 on_remote_added: Callable[[int], None] | None = None) -> None:
        self._link = link
        self._hub = hub
        # told how many messages a sibling added (the primary's search indexer)
        self._on_remote_added = on_remote_added
        link.handle(EVENTS, self.received)

    def publish(self, event: StoreEvent) -> None:
        """A local commit's event: here first, then to every sibling."""
        self._hub.publish(event)
        for part in _parts(event_body(event), MOST_IDS):
            try:
                self._link.send_all(EVENTS, part)
            except ValueError as exc:  # one id's worth beyond a datagram: never in practice
                log.error("event not sent to the other workers: %s", exc)

    def received(self, payload: bytes) -> None:
        """A sibling's event: to this worker's subscribers."""
        event = event_from_body(json.loads(payload))
        self._hub.publish(event)
        if isinstance(event, MessagesAdded) and self._on_remote_added is not None:
            self._on_remote_added(len(event.uids))


def _parts(body: dict[str, Any], most: int) -> list[bytes]:
    """The body's messages, each under the datagram limit (halving the ids as needed)."""
    out: list[bytes] = []
    for part in split_body(body, most):
        data = json.dumps(part, ensure_ascii=False, separators=(",", ":")).encode()
        if len(data) < MAX_DATAGRAM - 1 or most <= 1:
            out.append(data)
        else:
            out.extend(_parts(part, max(1, most // 2)))
    return out
