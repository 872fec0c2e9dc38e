"""The outbound queue: enqueue, due, per-recipient results, reschedule, hold, remove."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from posthouse.store.api import Store
from posthouse.store.blobs import INLINE_LIMIT
from posthouse.store.errors import NotFound
from posthouse.store.models import OutboundEnvelope, OutboundRecipient, RecipientState
from tests.backends.support import StoreRunner

ENVELOPE = OutboundEnvelope(
    mail_from="bob@example.org",
    recipients=(
        OutboundRecipient("a@remote.example", ("NEVER",)),
        OutboundRecipient("b@remote.example", ("SUCCESS", "DELAY"), "rfc822;B@remote.example"),
    ),
    envid="abc",
    ret="HDRS",
    smtputf8=True,
    body="8BITMIME",
)
FAR_FUTURE = datetime(2999, 1, 1, tzinfo=UTC)


def test_enqueue_and_read_back(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        data = b"Subject: out\r\n\r\nhello\r\n"
        queue_id = await store.enqueue(data, ENVELOPE)
        queued = await store.get_queued(queue_id)
        assert queued is not None
        assert queued.envelope == ENVELOPE
        assert await store.read_blob(queued.blob_id) == data
        assert queued.size == len(data)
        assert queued.attempts == 0
        assert not queued.held
        assert not queued.delay_warned
        assert queued.last_error is None
        assert [r.state for r in queued.recipients] == [RecipientState.PENDING] * 2
        assert queued.recipients[1].notify == ("SUCCESS", "DELAY")
        assert queued.recipients[1].orcpt == "rfc822;B@remote.example"
        assert queued.created.tzinfo is not None
        assert await store.get_queued(queue_id + 1) is None
        assert [q.id for q in await store.list_queue()] == [queue_id]

    runner.run(body)


def test_due_hold_reschedule_results_remove(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        first = await store.enqueue(b"one", ENVELOPE)
        second = await store.enqueue(b"two" * 30_000, ENVELOPE)  # file-sized blob
        assert [q.id for q in await store.due(FAR_FUTURE, 10)] == [first, second]
        assert [q.id for q in await store.due(FAR_FUTURE, 1)] == [first]
        # Entries a worker already has in flight are left out, and the limit counts the rest.
        assert [q.id for q in await store.due(FAR_FUTURE, 1, exclude={first})] == [second]
        assert await store.due(FAR_FUTURE, 10, exclude=[first, second]) == []
        assert await store.due(datetime(2000, 1, 1, tzinfo=UTC), 10) == []
        await store.set_held(first, True)
        assert [q.id for q in await store.due(FAR_FUTURE, 10)] == [second]
        await store.set_held(first, False)
        later = datetime.now(UTC) + timedelta(hours=1)
        await store.reschedule(first, later, error="451 try later", delay_warned=True)
        queued = await store.get_queued(first)
        assert queued is not None
        assert queued.next_attempt == later
        assert queued.attempts == 1
        assert queued.last_error == "451 try later"
        assert queued.delay_warned
        await store.reschedule(first, later, error=None)
        queued = await store.get_queued(first)
        assert queued is not None
        assert queued.delay_warned
        assert queued.last_error is None
        assert [q.id for q in await store.due(later - timedelta(seconds=1), 10)] == [second]
        assert [q.id for q in await store.due(later, 10)] == [second, first]
        # Recipient outcomes: when none is pending the message is no longer due.
        rcpt_a, rcpt_b = (await store.get_queued(second)).recipients  # type: ignore[union-attr]
        await store.record_recipient_result(rcpt_a.id, delivered=True, failed=False, reply="250")
        await store.record_recipient_result(rcpt_b.id, delivered=False, failed=False, reply="451")
        states = (await store.get_queued(second)).recipients  # type: ignore[union-attr]
        assert [(r.state, r.last_reply, r.attempts) for r in states] == [
            (RecipientState.DELIVERED, "250", 1), (RecipientState.PENDING, "451", 1),
        ]
        assert second in [q.id for q in await store.due(FAR_FUTURE, 10)]
        await store.record_recipient_result(rcpt_b.id, delivered=False, failed=True, reply="550")
        assert second not in [q.id for q in await store.due(FAR_FUTURE, 10)]
        blob = (await store.get_queued(second)).blob_id  # type: ignore[union-attr]
        await store.remove_queued(second)
        assert await store.get_queued(second) is None
        with pytest.raises(NotFound):
            await store.read_blob(blob)
        for call in (
            store.remove_queued(second),
            store.set_held(second, True),
            store.reschedule(second, later, error=None),
            store.record_recipient_result(10_000, delivered=True, failed=False, reply=""),
        ):
            with pytest.raises(NotFound):
                await call

    runner.run(body)


def test_queue_survives_reopen(runner: StoreRunner) -> None:
    async def first(store: Store) -> int:
        return await store.enqueue(b"x" * (INLINE_LIMIT + 6000), ENVELOPE)

    queue_id = runner.run(first)

    async def second(store: Store) -> None:
        queued = await store.get_queued(queue_id)
        assert queued is not None
        assert await store.read_blob(queued.blob_id) == b"x" * (INLINE_LIMIT + 6000)

    runner.run(second)
