"""SMTP over a raw socket for tests that need exact bytes on the wire, and trace helpers.

``RawSmtp`` writes what it is given (no dot-stuffing, no line-end fixes) and reads whole
replies; ``strip_trace`` removes the fields the server prepends at delivery.
"""

from __future__ import annotations

import asyncio
import base64
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import aiosmtplib

from tests.support.server import PASSWORD, ServerThread


def _field_re(name: str) -> re.Pattern[bytes]:
    """A header field at the very start, with its folded continuation lines."""
    return re.compile(rb"\A" + name.encode() + rb":[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*")


_RETURN_PATH = _field_re("Return-Path")
_RECEIVED = _field_re("Received")


@dataclass(frozen=True)
class Reply:
    """One SMTP reply: the code and the text of every line (without the code)."""

    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def enhanced(self) -> str:
        """The enhanced status code at the start of the first line ("" when absent)."""
        first = self.lines[0].split(" ", 1)[0] if self.lines else ""
        return first if re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", first) else ""

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


class RawSmtp:
    """A plain socket speaking SMTP one exact byte string at a time."""

    def __init__(self, port: int, *, tls: ssl.SSLContext | None = None,
                 timeout: float = 30) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock: socket.socket = tls.wrap_socket(raw) if tls else raw
        self._buf = b""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _line(self) -> bytes:
        while b"\r\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed; unread: {self._buf!r}")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\r\n")
        return line

    def reply(self) -> Reply:
        """Read one (possibly multi-line) reply."""
        lines: list[str] = []
        while True:
            line = self._line().decode("utf-8")
            lines.append(line[4:])
            if line[3:4] != "-":
                return Reply(int(line[:3]), tuple(lines))

    def cmd(self, line: str | bytes) -> Reply:
        """Send one command line (CRLF added) and read its reply."""
        data = line.encode("utf-8") if isinstance(line, str) else line
        self.send(data + b"\r\n")
        return self.reply()

    @property
    def pending(self) -> bytes:
        """Bytes received but not read as a reply yet."""
        return self._buf

    def eof(self) -> bool:
        """True when the server closed the connection (after reading what was left)."""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return True
            self._buf += chunk

    def starttls(self, ctx: ssl.SSLContext) -> None:
        """Upgrade after a 220 to STARTTLS; anything already buffered would be a bug."""
        assert self._buf == b"", f"bytes before the TLS handshake: {self._buf!r}"
        self.sock = ctx.wrap_socket(self.sock)

    def login(self, address: str, password: str = PASSWORD) -> Reply:
        token = base64.b64encode(f"\0{address}\0{password}".encode()).decode()
        return self.cmd(f"AUTH PLAIN {token}")


def strip_trace(stored: bytes, *, return_path: bool = True) -> bytes:
    """The message without the one Return-Path (final delivery only) and the one Received
    field posthouse prepends; fails if they are not there."""
    if return_path:
        found = _RETURN_PATH.match(stored)
        assert found, f"no leading Return-Path: {stored[:200]!r}"
        stored = stored[found.end():]
    found = _RECEIVED.match(stored)
    assert found, f"no leading Received: {stored[:300]!r}"
    assert b"(posthouse)" in found.group(), found.group()
    return stored[found.end():]


def trace_fields(stored: bytes, *, return_path: bool = True) -> bytes:
    """The prepended Return-Path and Received fields themselves."""
    return stored[: len(stored) - len(strip_trace(stored, return_path=return_path))]


def split_message(data: bytes) -> tuple[bytes, bytes]:
    """(header section with its final CRLF, body) split at the first empty line."""
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, "message has no empty line"
    return head + b"\r\n", body


# -- real clients: smtplib and aiosmtplib on submission (587 STARTTLS) or submissions (465) --

CLIENTS = ("smtplib", "aiosmtplib")
SUBMISSION_LISTENERS = ("submission", "submissions")


@dataclass(frozen=True)
class Outgoing:
    """One message to submit: envelope, content and ESMTP parameters."""

    recipients: tuple[str, ...]
    data: bytes
    mail_options: tuple[str, ...] = ()
    rcpt_options: tuple[str, ...] = ()


def submit(server: ServerThread, client: str, listener: str, sender: str,
           messages: list[Outgoing], *, login: str | None = None) -> None:
    """Log in as ``login`` (default: the sender) and send every message in one session;
    fails unless every recipient of every message is accepted."""
    user = login or sender
    if client == "smtplib":
        _submit_smtplib(server, listener, user, sender, messages)
    else:
        asyncio.run(_submit_aiosmtplib(server, listener, user, sender, messages))


def _submit_smtplib(server: ServerThread, listener: str, user: str, sender: str,
                    messages: list[Outgoing]) -> None:
    port = server.port(listener)
    ctx = server.client_tls()
    client = (smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=30)
              if listener == "submissions" else smtplib.SMTP("127.0.0.1", port, timeout=30))
    with client:
        if listener == "submission":
            client.starttls(context=ctx)
        client.login(user, PASSWORD)
        for m in messages:
            refused = client.sendmail(sender, list(m.recipients), m.data,
                                      mail_options=list(m.mail_options),
                                      rcpt_options=list(m.rcpt_options))
            assert refused == {}


async def _submit_aiosmtplib(server: ServerThread, listener: str, user: str, sender: str,
                             messages: list[Outgoing]) -> None:
    implicit = listener == "submissions"
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port(listener),
                             use_tls=implicit, start_tls=not implicit,
                             tls_context=server.client_tls(), local_hostname="client.test")
    async with client:
        sock = client.get_transport_info("socket")
        await client.login(user, PASSWORD)
        for m in messages:
            errors, _text = await client.sendmail(sender, list(m.recipients), m.data,
                                                  mail_options=list(m.mail_options),
                                                  rcpt_options=list(m.rcpt_options))
            assert errors == {}
    await closed(sock)


async def closed(sock: socket.socket) -> None:
    """Wait until asyncio really closed a client socket. An aiosmtplib session upgraded with
    STARTTLS finishes its TLS shutdown in the background; if asyncio.run ended the loop
    first, the socket would be left open (a ResourceWarning, an error under pytest)."""
    for _ in range(3000):
        if sock.fileno() == -1:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the client socket was never closed")

