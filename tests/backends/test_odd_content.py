"""Content a backend must take as it is: NUL bytes and 8-bit text in a message, parsed by
the store itself (no summary given), served byte for byte and searchable."""

from __future__ import annotations

from datetime import UTC, datetime

from posthouse.store.api import Store
from posthouse.store.models import DeliveryTarget, NewMessage
from tests.backends.support import StoreRunner, mailbox_id, new_user

RAW = (b"From: a\x00b <a@example.net>\r\nSubject: nul \x00 here\r\n"
       b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
       b"before\x00after \xc3\xa9t\xc3\xa9 \xff\xfe\r\n")


def test_nul_bytes_are_stored_served_and_searched(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store)
        inbox = await mailbox_id(store, bob)
        ((_, uid),) = await store.deliver(NewMessage(RAW, None, datetime(2024, 1, 1, tzinfo=UTC)),
                                          [DeliveryTarget(bob.id)])
        (meta,) = await store.fetch_meta(inbox, [uid], with_summary=True)
        assert meta.summary is not None
        assert await store.read_blob(meta.blob_id) == RAW
        await store.catch_up_index()
        assert await store.search_text(inbox, "ÉTÉ", field="body") == {uid}
        assert await store.search_text(inbox, "nul", field="subject") == {uid}
        assert await store.search_text(inbox, "A@EXAMPLE", field="from") == {uid}
        assert await store.search_text(inbox, "b <a@", field="from") == {uid}  # after the NUL

    runner.run(body)
