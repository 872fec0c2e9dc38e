"""IMAP test helpers: a line-level client over a real socket, and delivery via the store."""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime
from typing import Any

from posthouse.message.summary import summarize
from posthouse.store.models import DeliveryTarget, NewMessage
from tests.support.server import PASSWORD, ServerThread

ADDRESS = "bob@example.test"


class RawImap:
    """Speaks IMAP by lines, so tests can see every byte the server sends."""

    def __init__(self, port: int, *, tls: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock: socket.socket = tls.wrap_socket(sock) if tls is not None else sock
        self.buf = b""
        self.greeting = self.readline()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def readline(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; buffered {self.buf!r}")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read_until_tag(self, tag: bytes) -> list[bytes]:
        """Lines up to and including the tagged one."""
        lines = []
        while True:
            line = self.readline()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def cmd(self, tag: str, text: str | bytes) -> list[bytes]:
        """Send ``tag text`` and read up to its tagged response."""
        raw = text.encode() if isinstance(text, str) else text
        self.send(tag.encode() + b" " + raw + b"\r\n")
        return self.read_until_tag(tag.encode())

    def starttls(self, ctx: ssl.SSLContext) -> None:
        assert self.cmd("st", "STARTTLS")[-1].startswith(b"st OK")
        assert not self.buf
        self.sock = ctx.wrap_socket(self.sock)

    def login(self, user: str = ADDRESS, password: str = PASSWORD) -> list[bytes]:
        return self.cmd("li", f'LOGIN "{user}" "{password}"')

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawImap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tls_client(server: ServerThread, *, user: str = ADDRESS) -> RawImap:
    """A raw client on 993, logged in."""
    client = RawImap(server.port("imaps"), tls=server.client_tls())
    assert client.login(user)[-1].startswith(b"li OK")
    return client


def message(subject: str = "hello", body: str = "Hi there.") -> bytes:
    return (f"From: alice@example.test\r\nTo: bob@example.test\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@example.test>\r\n\r\n{body}\r\n").encode()


def deliver(server: ServerThread, address: str = ADDRESS, data: bytes | None = None,
            *, mailbox: str = "INBOX", flags: frozenset[str] = frozenset()) -> Any:
    """Put a message into a user's mailbox through the store, as SMTP delivery would."""
    data = data or message()
    user = server.call(server.store.get_user(address))
    new = NewMessage(data, summarize(data), datetime.now(UTC))
    return server.call(server.store.deliver(new, [DeliveryTarget(user.id, mailbox, flags)]))
