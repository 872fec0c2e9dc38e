"""JMAP push over an event source (RFC 8620 7.3), fed by the store's event hub.

``GET /jmap/eventsource/?types=*&closeafter=no&ping=N`` answers a ``text/event-stream``
that starts with a ``state`` event holding the current state (7.3: sent at once on a new
connection), then one ``state`` event (a StateChange, 7.1) after every committed change of
the user's mail, whatever protocol made it (IMAP, POP3, SMTP delivery, JMAP), and a
``ping`` event (data ``{"interval": N}``) after N quiet seconds. The subscription to the
hub is taken before the first state is read, so no change falls between them. Events that
arrive together are coalesced into one StateChange (7.1 allows it).

Mailbox, Email and Thread share one state string (state.py), so they change together.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from posthouse.jmap.api import account_id_of
from posthouse.jmap.state import encode_state
from posthouse.store.api import Store
from posthouse.web.messages import HttpRequest, HttpResponse

TYPES = ("Mailbox", "Email", "Thread")
MIN_PING = 1  # seconds; RFC 8620 7.3 lets the server bound the client's value
MAX_PING = 600


class EventSourceFeed:
    """Opens event streams for authenticated users."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def open(self, request: HttpRequest, user_id: int) -> HttpResponse:
        """The stream response, or 400 for bad parameters."""
        types_param = request.param("types") or "*"
        types = TYPES if types_param == "*" else tuple(
            t for t in types_param.split(",") if t in TYPES)
        closeafter = request.param("closeafter") or "no"
        ping_text = request.param("ping") or "0"
        if closeafter not in ("state", "no") or not ping_text.isdigit():
            return HttpResponse.error(400, "closeafter must be state or no; ping seconds")
        ping = int(ping_text)
        if ping:
            ping = min(max(ping, MIN_PING), MAX_PING)
        subscription = self.store.subscribe(user_id)
        account = account_id_of(user_id)

        async def events() -> AsyncIterator[bytes]:
            try:
                counter = 0
                last = ""
                while True:
                    state = encode_state(await self.store.list_mailboxes(user_id))
                    if state != last and types:
                        counter += 1
                        change = {"@type": "StateChange",
                                  "changed": {account: dict.fromkeys(types, state)}}
                        yield _event("state", json.dumps(change), str(counter))
                        last = state
                        if closeafter == "state" and counter > 1:
                            return
                    while True:
                        try:
                            await asyncio.wait_for(subscription.get(), ping or None)
                        except TimeoutError:
                            yield _event("ping", json.dumps({"interval": ping}))
                            continue
                        subscription.drain()  # coalesced into one StateChange
                        break
            finally:
                subscription.close()

        return HttpResponse(200, b"", [("Content-Type", "text/event-stream"),
                                       ("Cache-Control", "no-cache, no-store")],
                            stream=events)


def _event(kind: str, data: str, event_id: str | None = None) -> bytes:
    lines = [f"event: {kind}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {data}")
    return ("\n".join(lines) + "\n\n").encode()
