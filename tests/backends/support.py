"""Helpers of the backend conformance suite: run a body against a fresh store, make messages.

Every test in tests/backends/ that is written against ``posthouse.store.api.Store`` runs once
per backend (see conftest.py). pytest-asyncio is not used: each test drives its own event
loop through ``StoreRunner.run``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

from posthouse.message.summary_model import MessageSummary
from posthouse.store.api import Store
from posthouse.store.models import NewMessage, User

T = TypeVar("T")
BACKENDS = ("sqlite", "postgres")
DOMAIN = "example.org"
CET = timezone(timedelta(hours=1))


class StoreRunner:
    """Opens a store of one backend on one data directory, runs a body, closes it."""

    def __init__(self, backend: str, data_dir: Path, pg_url: str | None = None) -> None:
        self.backend = backend
        self.data_dir = data_dir
        self.pg_url = pg_url  # postgres: this runner's own schema (tests/support/pgdb.py)

    def make(self, *, auto_index: bool = True) -> Store:
        """A new, unopened store on this runner's data (``auto_index`` False: the full-text
        index is built only on ``catch_up_index``, so searches see pending messages)."""
        if self.backend == "sqlite":
            from tests.support.stores import sqlite_store

            return sqlite_store(self.data_dir, auto_index=auto_index)
        if self.backend == "postgres":
            from tests.support.stores import postgres_store

            assert self.pg_url is not None
            return postgres_store(self.pg_url)
        raise ValueError(f"unknown backend {self.backend!r}")

    def run(self, body: Callable[[Store], Awaitable[T]], *, auto_index: bool = True) -> T:
        """Open the store (again, on the same data), await ``body(store)``, close it."""

        async def main() -> T:
            store = self.make(auto_index=auto_index)
            await store.open()
            try:
                return await body(store)
            finally:
                await store.close()

        return asyncio.run(main())


def message(
    body: str = "Hello there.",
    *,
    subject: str = "Greetings",
    sender: str = "Alice <alice@example.net>",
    pad: int = 0,
    date: datetime | None = None,
) -> NewMessage:
    """A small message (or one padded by ``pad`` bytes) with a matching summary."""
    raw = (
        f"From: {sender}\r\nTo: bob@{DOMAIN}\r\nSubject: {subject}\r\n\r\n{body}\r\n"
    ).encode()
    if pad:
        raw += b"x" * pad + b"\r\n"
    summary = MessageSummary(
        envelope='["env"]',
        bodystructure='["text", "plain"]',
        headers={"from": sender, "to": f"bob@{DOMAIN}", "subject": subject},
        sent_date=datetime(2024, 5, 1, 12, 0, tzinfo=CET),
    )
    return NewMessage(raw, summary, date or datetime(2024, 5, 1, 12, 30, tzinfo=CET))


async def new_user(store: Store, local: str = "bob", *, quota_bytes: int = 0) -> User:
    """A user of DOMAIN (created with the domain if needed)."""
    if not await store.is_local_domain(DOMAIN):
        await store.add_domain(DOMAIN)
    return await store.add_user(f"{local}@{DOMAIN}", "hash", quota_bytes=quota_bytes)


async def mailbox_id(store: Store, user: User, name: str = "INBOX") -> int:
    """The id of an existing mailbox."""
    box = await store.get_mailbox(user.id, name)
    assert box is not None, name
    return box.id

