"""Helpers for the IMAP message-command tests: clients logged in over IMAPS, a raw client
that shows responses exactly as sent, and filling mailboxes through the store."""

from __future__ import annotations

import contextlib
import imaplib
import re
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

from posthouse.message.summary import summarize
from posthouse.store.models import DeliveryTarget, NewMessage
from tests.support.server import PASSWORD, ServerThread

USER = "ann@example.test"
CORPUS = Path(__file__).parent.parent / "data" / "mime"
_LITERAL = re.compile(rb"~?\{(\d+)\+?\}\r\n\Z")


def corpus(name: str) -> bytes:
    """One message of tests/data/mime."""
    return (CORPUS / name).read_bytes()


def client(server: ServerThread, user: str = USER) -> IMAPClient:
    """An IMAPClient logged in over implicit TLS."""
    imap = IMAPClient("127.0.0.1", port=server.port("imaps"), ssl=True,
                      ssl_context=server.client_tls(), timeout=30)
    imap.login(user, PASSWORD)
    return imap


def imaplib_client(server: ServerThread, user: str = USER) -> imaplib.IMAP4_SSL:
    """An imaplib client logged in over implicit TLS."""
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"),
                             ssl_context=server.client_tls(), timeout=30)
    imap.login(user, PASSWORD)
    return imap


class RawImap:
    """A line-level client: ``command`` returns every response to one command, literals
    inline, exactly as the server sent them (order included)."""

    def __init__(self, server: ServerThread, user: str | None = USER) -> None:
        sock = socket.create_connection(("127.0.0.1", server.port("imaps")), timeout=30)
        self.sock = server.client_tls().wrap_socket(sock)
        self.file = self.sock.makefile("rb")
        self.greeting = self.response()
        self.count = 0
        if user is not None:
            self.ok(f'LOGIN "{user}" "{PASSWORD}"')

    def response(self) -> bytes:
        """One response, with any literals it carries."""
        out = self._line()
        while (match := _LITERAL.search(out)) is not None:
            out += self.file.read(int(match[1]))
            out += self._line()
        return out

    def _line(self) -> bytes:
        line = self.file.readline()
        if not line:
            raise EOFError("connection closed")
        return line

    def command(self, text: str | bytes) -> list[bytes]:
        """Send one command (a literal in it must be non-synchronizing: ``{n+}``) and
        collect the responses up to and including the tagged one."""
        self.count += 1
        tag = b"t%d" % self.count
        raw = text.encode() if isinstance(text, str) else text
        self.sock.sendall(tag + b" " + raw + b"\r\n")
        out = []
        while True:
            line = self.response()
            out.append(line)
            if line.startswith(tag + b" "):
                return out

    def ok(self, text: str | bytes) -> list[bytes]:
        """``command`` that must end in a tagged OK; the untagged responses."""
        out = self.command(text)
        assert out[-1].split(b" ", 2)[1] == b"OK", out
        return out[:-1]

    def close(self) -> None:
        """Log out and close."""
        try:
            self.command("LOGOUT")
        except (OSError, EOFError):
            pass
        finally:
            self.file.close()
            self.sock.close()

    def __enter__(self) -> RawImap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Connections:
    """Opens clients for one test and closes them all at its end (even when it fails)."""

    def __init__(self, server: ServerThread) -> None:
        self.server = server
        self._imap: list[IMAPClient] = []
        self._raw: list[RawImap] = []

    def imap(self, user: str = USER) -> IMAPClient:
        """An IMAPClient logged in as ``user``."""
        self._imap.append(client(self.server, user))
        return self._imap[-1]

    def raw(self, user: str | None = USER) -> RawImap:
        """A RawImap logged in as ``user`` (None: not logged in)."""
        self._raw.append(RawImap(self.server, user))
        return self._raw[-1]

    def close_all(self) -> None:
        """Log every client out."""
        for imap in self._imap:
            with contextlib.suppress(Exception):
                imap.logout()
        for raw in self._raw:
            raw.close()


def status(responses: list[bytes]) -> bytes:
    """The tagged response of ``RawImap.command`` without its tag: ``b"OK [...] text"``."""
    return responses[-1].split(b" ", 1)[1].rstrip(b"\r\n")


async def _fill(
    store: Any, address: str, data: bytes, flags: Sequence[frozenset[str]], mailbox: str,
    when: datetime,
) -> list[int]:
    user = await store.get_user(address)
    message = NewMessage(data, summarize(data), when)
    targets = [DeliveryTarget(user.id, mailbox, f) for f in flags]
    return [uid for _, uid in await store.deliver(message, targets)]


def fill(
    server: ServerThread, data: bytes, flags: Sequence[frozenset[str]] = (frozenset(),),
    *, mailbox: str = "INBOX", address: str = USER, when: datetime | None = None,
) -> list[int]:
    """File ``len(flags)`` copies of one message (each with its flags) in one store
    transaction; their uids."""
    return server.call(_fill(server.store, address, data, flags, mailbox,
                             when or datetime.now(UTC)))


async def _claim(store: Any, address: str, mailbox: str) -> None:
    user = await store.get_user(address)
    box = await store.get_mailbox(user.id, mailbox)
    await store.claim_recent(box.id)


def claim_recent(server: ServerThread, *, mailbox: str = "INBOX", address: str = USER) -> None:
    """Make every message of the mailbox not \\Recent for later sessions (as if another
    session had selected it), so exact FLAGS can be compared."""
    server.call(_claim(server.store, address, mailbox))


def message(n: int, *, subject: str | None = None, body: str = "", date: str = "",
            extra: str = "") -> bytes:
    """A small CRLF text message."""
    return (
        f"From: Sender {n} <sender{n}@remote.example>\r\nTo: {USER}\r\n"
        f"Subject: {subject or f'message {n}'}\r\nMessage-ID: <m{n}@remote.example>\r\n"
        f"Date: {date or 'Mon, 23 Nov 2026 10:00:00 +0000'}\r\n{extra}"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
        f"\r\n{body or f'Body of message {n}.'}\r\n"
    ).encode()


# -- a small reader of IMAP values, independent of the server's encoder -------------------

Parsed = Any  # bytes | int | None | list[Parsed]
_DELIMS = b" ()"


def _atom(data: bytes, i: int) -> tuple[Parsed, int]:
    start, depth = i, 0
    while i < len(data) and (depth or data[i] not in _DELIMS):
        depth += {0x5B: 1, 0x5D: -1}.get(data[i], 0)  # [ ] may hold spaces and parens
        i += 1
    word = data[start:i]
    if word == b"NIL":
        return None, i
    return (int(word) if word.isdigit() else word), i


def _quoted(data: bytes, i: int) -> tuple[Parsed, int]:
    out = bytearray()
    i += 1
    while data[i] != 0x22:
        if data[i] == 0x5C:
            i += 1
        out.append(data[i])
        i += 1
    return bytes(out), i + 1


def _literal(data: bytes, i: int) -> tuple[Parsed, int]:
    end = data.index(b"}\r\n", i)
    size = int(data[data.index(b"{", i) + 1:end].rstrip(b"+"))
    start = end + 3
    return data[start:start + size], start + size


def parse_value(data: bytes, i: int = 0) -> tuple[Parsed, int]:
    """One value at ``data[i:]``: (value, index after it). Strings come back as bytes."""
    byte = data[i]
    if byte == 0x28:
        items: list[Parsed] = []
        i += 1
        while data[i] != 0x29:
            if data[i] == 0x20:
                i += 1
                continue
            item, i = parse_value(data, i)
            items.append(item)
        return items, i + 1
    if byte == 0x22:
        return _quoted(data, i)
    if byte == 0x7B or data[i:i + 2] == b"~{":
        return _literal(data, i)
    return _atom(data, i)


def fetch_items(response: bytes) -> dict[bytes, Parsed]:
    """``* n FETCH (name value ...)`` as a dict (names as sent)."""
    head = response.index(b" FETCH (") + 7
    items, _ = parse_value(response, head)
    return dict(zip(items[0::2], items[1::2], strict=True))


def as_wire(value: Any) -> Parsed:
    """An expected value (str/int/None/list) in the form ``parse_value`` gives."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, list | tuple):
        return [as_wire(v) for v in value]
    return value


def uidvalidity(server: ServerThread, mailbox: str) -> int:
    """The UIDVALIDITY of one of USER's mailboxes, read from the store."""
    async def get() -> int:
        user = await server.store.get_user(USER)
        box = await server.store.get_mailbox(user.id, mailbox)
        return int(box.uidvalidity)
    return server.call(get())
