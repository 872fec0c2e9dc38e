"""Store events across nodes: published with NOTIFY in the transaction that made them, and
received with LISTEN into this node's EventHub (so IMAP IDLE on one node sees a delivery
made on another).

NOTIFY is transactional: a notification is sent only if its transaction commits, after the
commit, in commit order. The payload is small: what kind of change, the user, the mailbox,
the modseq and the ids (uids, or a uid range for added messages). A change too large for a
payload (PostgreSQL allows under 8000 bytes) is sent without its ids, and the receiver reads
them: the tombstones or the message rows stamped with that modseq. Each node skips its own
notifications (it published those events itself, with their session origins, right after
its commit). Remote events carry no origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from posthouse.store.event_codec import ID_KEYS, event_body, event_from_body
from posthouse.store.events import (
    FlagsChanged,
    MessagesAdded,
    MessagesExpunged,
    StoreEvent,
)
from posthouse.store.models import UidFlags
from posthouse.store.postgres.pool import Row, Tx, connect
from posthouse.store.sqlite.codec import decode_flags

CHANNEL = "posthouse_events"
MAX_PAYLOAD = 7900
RECONNECT_DELAY = 1.0
log = logging.getLogger(__name__)


def encode(event: StoreEvent, node: str) -> str:
    """The NOTIFY payload of an event (without its ids when they would not fit)."""
    body: dict[str, Any] = {"n": node} | event_body(event)
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    if len(text.encode()) <= MAX_PAYLOAD:
        return text
    for key in ID_KEYS:
        body.pop(key, None)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def decode(body: dict[str, Any]) -> StoreEvent:
    """Rebuild an event from a payload (a truncated one after ``fill``)."""
    return event_from_body(body)


def truncated(body: dict[str, Any]) -> bool:
    """Whether the payload left out ids that the receiver must read."""
    return body["k"] in ("add", "exp", "flags") and not ({"i", "c", "r"} & body.keys())


async def fill(tx: Tx, body: dict[str, Any]) -> None:
    """Read the ids a truncated payload left out (rows stamped with its modseq)."""
    mailbox, modseq = body["m"], body["s"]
    if body["k"] == "exp":
        rows = await tx.all("SELECT uid FROM expunged WHERE mailbox_id = %s AND modseq = %s"
                            " ORDER BY uid", (mailbox, modseq))
        body["i"] = [r[0] for r in rows]
        return
    rows = await tx.all("SELECT uid, modseq, flags FROM messages WHERE mailbox_id = %s"
                        " AND modseq = %s ORDER BY uid", (mailbox, modseq))
    if body["k"] == "add":
        body["i"] = [r[0] for r in rows]
    else:
        body["c"] = [list(r) for r in rows]


async def _missed(tx: Tx, mailbox_id: int, since: int) -> list[StoreEvent]:
    """The changes of a mailbox above modseq ``since``, as events."""
    box = await tx.one("SELECT user_id, highestmodseq FROM mailboxes WHERE id = %s",
                       (mailbox_id,))
    if box is None or box[1] <= since:
        return []
    user, highest = int(box[0]), int(box[1])
    gone = await tx.all("SELECT uid FROM expunged WHERE mailbox_id = %s AND modseq > %s"
                        " ORDER BY uid", (mailbox_id, since))
    rows = await tx.all("SELECT uid, modseq, flags FROM messages WHERE mailbox_id = %s"
                        " AND modseq > %s ORDER BY uid", (mailbox_id, since))
    out: list[StoreEvent] = []
    if gone:
        out.append(MessagesExpunged(user, mailbox_id, tuple(r[0] for r in gone), highest))
    if rows:
        out.append(MessagesAdded(user, mailbox_id, tuple(r[0] for r in rows), highest))
        out.append(FlagsChanged(user, mailbox_id, tuple(
            UidFlags(r[0], r[1], decode_flags(r[2])) for r in rows), highest))
    return out


class PgEventListener:
    """LISTENs on the events channel and publishes other nodes' events into the hub."""

    def __init__(self, url: str, node: str, publish: Callable[[StoreEvent], None],
                 reader: Callable[[Callable[[Tx], Awaitable[None]]], Awaitable[None]]) -> None:
        self._url = url
        self._node = node
        self._publish = publish
        self._reader = reader
        self._conn: psycopg.AsyncConnection[Row] | None = None
        self._task: asyncio.Task[None] | None = None
        self.identity: tuple[int, object] = (0, None)  # (backend pid, start) of the LISTEN
        # per mailbox: every change up to this modseq has reached the hub (from another node
        # through a notification, or it was there when a view opened); the catch-up after a
        # lost connection reads what came after it
        self._known: dict[int, int] = {}
        self.catch_ups = 0  # reconnections followed by a catch-up read

    def known_up_to(self, mailbox_id: int, modseq: int) -> None:
        """Every change of the mailbox up to ``modseq`` has been published here."""
        if modseq > self._known.get(mailbox_id, 0):
            self._known[mailbox_id] = modseq

    async def start(self) -> None:
        """Connect and LISTEN (before the store serves: nothing committed after is missed)."""
        await self._listen()
        self._task = asyncio.create_task(self._run(), name="posthouse-pg-listen")

    async def _listen(self) -> None:
        conn = self._conn = await connect(self._url)
        await conn.execute(f"LISTEN {CHANNEL}".encode())
        cur = await conn.execute(
            "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()")
        row = await cur.fetchone()
        assert row is not None
        self.identity = (int(row[0]), row[1])

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _run(self) -> None:
        while True:
            try:
                assert self._conn is not None
                async for note in self._conn.notifies():
                    await self._deliver(note.payload)
            except (psycopg.Error, OSError) as exc:
                log.warning("PostgreSQL LISTEN connection lost (%s); reconnecting", exc)
            await asyncio.sleep(RECONNECT_DELAY)
            with contextlib.suppress(psycopg.Error, OSError):
                if self._conn is not None:
                    await self._conn.close()
                lost = self.identity
                await self._listen()
                await self._catch_up(lost)

    async def _catch_up(self, lost: tuple[int, object]) -> None:
        """After a new LISTEN: move this node's views to the new connection (so no node
        takes them for a dead node's) and publish what their mailboxes missed meanwhile:
        rows and tombstones with a modseq above what was known. Repeats are harmless (an
        IMAP view ignores uids it has, and expunges of uids it does not know)."""
        events: list[StoreEvent] = []

        async def job(tx: Tx) -> None:
            boxes = await tx.all(
                "UPDATE views SET node_pid = %s, node_start = %s WHERE node_pid = %s"
                " AND node_start = %s RETURNING mailbox_id", (*self.identity, *lost))
            for mailbox_id in sorted({r[0] for r in boxes}):
                events.extend(await _missed(tx, mailbox_id, self._known.get(mailbox_id, 0)))

        await self._reader(job)
        self.catch_ups += 1
        for event in events:
            self._note(event)
            self._publish(event)

    def _note(self, event: StoreEvent) -> None:
        if isinstance(event, MessagesAdded | FlagsChanged | MessagesExpunged):
            self.known_up_to(event.mailbox_id, event.highestmodseq)

    async def _deliver(self, payload: str) -> None:
        try:
            body = json.loads(payload)
            if body.get("n") == self._node:
                return
            if truncated(body):
                await self._reader(lambda tx: fill(tx, body))
            event = decode(body)
            self._note(event)
            self._publish(event)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("ignoring a malformed store notification: %s", exc)
