"""Building test messages and putting them straight into a user's mailbox through the store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from posthouse.message.summary import summarize
from posthouse.store.models import DeliveryTarget, NewMessage


def make_message(n: int, *, size: int = 0, subject: str | None = None) -> bytes:
    """A CRLF message; ``size`` pads the body; some lines start with a dot on purpose."""
    body = f"Body of message {n}.\r\n.a line starting with a dot\r\n..two dots\r\n"
    if size:
        line = ("x" * 70 + "\r\n")
        body += line * max(0, (size - len(body)) // len(line))
    return (f"From: Sender <sender@remote.example>\r\nTo: user@example.test\r\n"
            f"Subject: {subject or f'message {n}'}\r\nMessage-ID: <m{n}@remote.example>\r\n"
            f"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n{body}").encode()


async def _deliver(store: Any, address: str, messages: list[bytes], mailbox: str) -> None:
    user = await store.get_user(address)
    for data in messages:
        msg = NewMessage(data, summarize(data), datetime.now(UTC))
        await store.deliver(msg, [DeliveryTarget(user.id, mailbox)])


def deliver(server: Any, address: str, messages: list[bytes], mailbox: str = "INBOX") -> None:
    """File messages into a mailbox via the store (no SMTP involved)."""
    server.call(_deliver(server.store, address, messages, mailbox))
