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


def _awkward_message(n: int) -> bytes:
    """A message that trips naive POP3 code: a lone "." line, lines of dots, a "From " line,
    a 998-octet line, 8-bit UTF-8, trailing blank lines."""
    long_line = "L" * 998
    body = (f"Awkward message {n}.\r\n.\r\n..\r\n...\r\n. \r\nFrom the top\r\n"
            f"{long_line}\r\nGrüße, ŝablono, 日本語\r\n\r\n\r\n")
    return (f"From: Sender <sender@remote.example>\r\nTo: user@example.test\r\n"
            f"Subject: awkward {n}\r\nMessage-ID: <m{n}@remote.example>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            f"\r\n{body}").encode()


def make_mailbox(count: int) -> list[bytes]:
    """``count`` distinct messages (Message-ID ``<mN@remote.example>``) for download tests:
    mostly make_message of varied sizes, every 10th awkward, one of about 200 KB, one with an
    empty body."""
    messages = []
    for n in range(1, count + 1):
        if n % 10 == 0:
            messages.append(_awkward_message(n))
        elif n == 7:
            messages.append(make_message(n, size=200_000))
        elif n == 3:
            messages.append(make_message(n).partition(b"\r\n\r\n")[0] + b"\r\n\r\n")
        else:
            messages.append(make_message(n, size=(n % 9) * 700))
    return messages
