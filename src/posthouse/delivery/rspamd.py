"""The rspamd scan of a message arriving on port 25: POST /checkv2 over a small HTTP/1.1
client on asyncio streams, the JSON action turned into a ``SpamVerdict``.

Owns the request (the envelope in rspamd's request headers: IP, Helo, From, Rcpt, Queue-Id,
User), the response parse, and the fields the verdict adds. Never refuses or loses mail on
its own trouble: rspamd unreachable, slow or answering nonsense gives the ``unchecked``
verdict, which delivers with a note (the outage is logged once, and its end).

One connection per message, ``Connection: close``: a scan costs far more than a connect on
loopback, and nothing is pooled that could go stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from posthouse.delivery.headers import replace_fields

log = logging.getLogger("posthouse.antiabuse")

MAX_RESPONSE = 1 << 20  # a verdict is a few kilobytes; anything larger is not one
SPAM_FIELDS = (b"x-spam", b"x-spam-score", b"x-spam-result")  # ours: a sender's are removed


class RspamdError(Exception):
    """rspamd could not be asked, or its answer could not be read."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """What rspamd is told besides the message."""

    ip: str
    helo: str
    mail_from: str
    recipients: Sequence[str]
    queue_id: str
    user: str = ""  # the authenticated user, if any


@dataclass(frozen=True, slots=True)
class SpamVerdict:
    """rspamd's action with its score and symbols; ``unchecked`` when it was not asked."""

    action: str
    score: float = 0.0
    required: float = 0.0
    symbols: tuple[str, ...] = ()
    subject: str | None = None  # the rewritten Subject of "rewrite subject"
    reason: str = ""  # rspamd's smtp_message, or why the scan is missing

    @property
    def is_spam(self) -> bool:
        """An action that files the message in Junk."""
        return self.action == "add header"

    def fields(self) -> bytes:
        """The header fields to prepend, CRLF ended."""
        if self.action == "unchecked":
            return f"X-Spam-Result: unchecked ({self.reason})\r\n".encode()
        head = f"X-Spam-Result: {self.action}; score={self.score:.2f}; " \
               f"required={self.required:.2f}"
        lines = [head + (";" if self.symbols else "")]
        for i, symbol in enumerate(self.symbols):  # folded, one symbol a line
            lines.append(f"\t{symbol}" + ("," if i < len(self.symbols) - 1 else ""))
        out = "\r\n".join(lines) + "\r\n"
        if self.is_spam:
            out = f"X-Spam: Yes\r\nX-Spam-Score: {self.score:.2f} / {self.required:.2f}\r\n" \
                  + out
        return out.encode("utf-8", "replace")


class RspamdClient:
    """Scans messages with the rspamd at ``url`` (``http://host:port``)."""

    def __init__(self, url: str, timeout_seconds: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not an http URL: {url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._path = parts.path.rstrip("/") + "/checkv2"
        self._timeout = timeout_seconds
        self._down = False

    async def scan(self, data: bytes, envelope: Envelope) -> SpamVerdict:
        """The verdict on ``data``; ``unchecked`` (logged once per outage) on any trouble."""
        try:
            async with asyncio.timeout(self._timeout):
                body = await self._post(data, envelope)
            verdict = parse_verdict(body)
        except (OSError, TimeoutError, EOFError, ValueError, asyncio.LimitOverrunError,
                RspamdError) as exc:  # EOFError: IncompleteReadError, a cut response
            if not self._down:
                log.warning("rspamd at %s:%d unavailable (%s); delivering unscanned",
                            self._host, self._port, exc or type(exc).__name__)
            self._down = True
            return SpamVerdict("unchecked", reason="rspamd unavailable")
        if self._down:
            log.info("rspamd at %s:%d answers again", self._host, self._port)
            self._down = False
        return verdict

    async def _post(self, data: bytes, envelope: Envelope) -> bytes:
        reader, writer = await asyncio.open_connection(self._host, self._port)
        try:
            writer.write(self._request(data, envelope))
            await writer.drain()
            return await _read_response(reader)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _request(self, data: bytes, env: Envelope) -> bytes:
        headers = [("Host", f"{self._host}:{self._port}"), ("Connection", "close"),
                   ("Content-Length", str(len(data))), ("IP", env.ip), ("Helo", env.helo),
                   ("From", env.mail_from), ("Queue-Id", env.queue_id)]
        headers += [("Rcpt", rcpt) for rcpt in env.recipients]
        if env.user:
            headers.append(("User", env.user))
        text = f"POST {self._path} HTTP/1.1\r\n" + "".join(
            f"{name}: {_clean(value)}\r\n" for name, value in headers if value) + "\r\n"
        return text.encode("utf-8") + data


def _clean(value: str) -> str:
    """A header value with no CR, LF or other controls (RFC 9110 5.5)."""
    return re.sub(r"[\x00-\x1f\x7f]", "", value)


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    """The body of a 200 response (Content-Length, chunked, or up to the close)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or not status[0].startswith("HTTP/1.") or status[1] != "200":
        raise RspamdError(f"answered {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader)
    if "content-length" in headers:
        size = int(headers["content-length"])
        if size > MAX_RESPONSE:
            raise RspamdError("response too large")
        return await reader.readexactly(size)
    body = await reader.read(MAX_RESPONSE + 1)
    if len(body) > MAX_RESPONSE:
        raise RspamdError("response too large")
    return body


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """RFC 9112 7.1: chunks, each a hex size line, until the zero-sized one."""
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            return bytes(body)
        if len(body) + size > MAX_RESPONSE:
            raise RspamdError("response too large")
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def parse_verdict(body: bytes) -> SpamVerdict:
    """The /checkv2 JSON as a SpamVerdict (RspamdError if it is not one)."""
    try:
        doc = json.loads(body)
        action = str(doc["action"])
        score = float(doc.get("score", 0.0))
        required = float(doc.get("required_score", 0.0))
    except (ValueError, KeyError, TypeError) as exc:
        raise RspamdError(f"unreadable verdict: {exc}") from None
    symbols = doc.get("symbols")
    names = []
    if isinstance(symbols, dict):
        for name, info in sorted(symbols.items()):
            sym_score = info.get("score", 0.0) if isinstance(info, dict) else 0.0
            names.append(f"{name}({float(sym_score):.2f})")
    messages = doc.get("messages")
    reason = ""
    if isinstance(messages, dict) and isinstance(messages.get("smtp_message"), str):
        reason = messages["smtp_message"]
    subject = doc.get("subject") if isinstance(doc.get("subject"), str) else None
    return SpamVerdict(action, score, required, tuple(names), subject, reason)


def apply_verdict(data: bytes, verdict: SpamVerdict) -> bytes:
    """``data`` without the X-Spam fields a sender wrote (only ours may say what the scan
    found) and with its Subject rewritten when rspamd says so; the verdict's own fields
    (``SpamVerdict.fields``) go above Received with the other check fields."""
    data = replace_fields(data, SPAM_FIELDS)
    if verdict.action == "rewrite subject" and verdict.subject is not None:
        subject = b"Subject: " + _clean(verdict.subject).encode("utf-8") + b"\r\n"
        data = replace_fields(data, (b"subject",), subject)
    return data
