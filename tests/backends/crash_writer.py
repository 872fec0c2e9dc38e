"""Crash-test child process: deliver concurrently until killed, acknowledging each write.

Run as ``python crash_writer.py DATA_DIR USER_ID FIRST_N`` (FIRST_N: the first delivery
number). Prints ``READY`` once the store is open, then for every delivery whose ``await``
returned one ``ACK n mailbox_id uid`` line per target, and ``DEL n`` after deleting message
n again (every n % 10 == 5). The parent kills this process with SIGKILL and checks that
every acknowledged write survived.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from datetime import UTC, datetime
from pathlib import Path

from posthouse.message.summary import message_text, summarize
from posthouse.message.summary_model import MessageSummary
from posthouse.store.blobs import INLINE_LIMIT
from posthouse.store.models import DeliveryTarget, NewMessage
from posthouse.store.sqlite.backend import SqliteStore

WORKERS = 50


def payload(n: int) -> bytes:
    """Content of delivery n: pairs (2k, 2k+1) share content; every third key is large."""
    key = n // 2
    head = f"Subject: crash {key}\r\n\r\nmessage {key}\r\n".encode()
    if key % 3 == 0:
        return head + bytes([65 + key % 26]) * (INLINE_LIMIT + 1000 + key)
    return head


def new_message(n: int) -> NewMessage:
    """Delivery n as a NewMessage; every even one without a summary, as SMTP delivers (the
    store parses it and files the summary in a transaction of its own, which a kill may
    precede)."""
    summary = MessageSummary("[]", "[]", {"subject": f"crash {n // 2}"}, None)
    return NewMessage(payload(n), None if n % 2 == 0 else summary,
                      datetime(2024, 1, 1, tzinfo=UTC))


async def worker(store: SqliteStore, user_id: int, counter: itertools.count[int]) -> None:
    """Deliver forever; print each acknowledgement after its await returned."""
    while True:
        n = next(counter)
        targets = [DeliveryTarget(user_id)]
        if n % 4 == 1:
            targets.append(DeliveryTarget(user_id, "Archive"))
        result = await store.deliver(new_message(n), targets)
        for mailbox_id, uid in result:
            print(f"ACK {n} {mailbox_id} {uid}", flush=True)
        if n % 10 == 5:
            await store.delete_messages(result[0][0], [result[0][1]])
            print(f"DEL {n}", flush=True)


async def main(data_dir: Path, user_id: int, first: int) -> None:
    """Open the store and run the workers until the process is killed."""
    store = SqliteStore(data_dir, summarize=summarize, message_text=message_text)
    await store.open()
    print("READY", flush=True)
    counter = itertools.count(first)
    await asyncio.gather(*(worker(store, user_id, counter) for _ in range(WORKERS)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
