"""The client's view of what a server says: reply parsing and the EHLO capability list.

Replies are bounded: a line longer than ``max_line`` or a reply of more than ``max_lines``
lines is a RemoteProtocolError, as is anything that is not "ddd[ -]text" (RFC 5321 4.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from posthouse.smtp.grammar import ESMTP_KEYWORD
from posthouse.smtp.replies import ENHANCED_RE, Reply
from posthouse.wire import LineBuffer, RemoteProtocolError

DEFAULT_MAX_LINE = 2048  # RFC 5321 says 512; real servers write longer texts
DEFAULT_MAX_LINES = 256
_CODE_RE = re.compile(rb"[2-5][0-9][0-9]")


class ReplyReader:
    """Assembles (multi-line) replies from received bytes."""

    def __init__(self, *, max_line: int = DEFAULT_MAX_LINE,
                 max_lines: int = DEFAULT_MAX_LINES) -> None:
        self._buf = LineBuffer(max_line)
        self.max_lines = max_lines
        self._code: bytes | None = None
        self._texts: list[str] = []

    def feed(self, data: bytes) -> None:
        """Add received bytes."""
        self._buf.feed(data)

    def discard(self) -> None:
        """Drop buffered input (the STARTTLS boundary)."""
        self._buf.discard()
        self._code = None
        self._texts = []

    @property
    def buffered(self) -> int:
        """How many received octets are not yet part of a reply."""
        return len(self._buf)

    def next_reply(self) -> Reply | None:
        """The next complete reply, or None if more bytes are needed."""
        while True:
            line = self._buf.next_line()
            if line is None:
                return None
            code, last, text = _split_line(line)
            if self._code is not None and code != self._code:
                raise RemoteProtocolError("reply code changed inside a multi-line reply")
            self._code = code
            self._texts.append(text)
            if len(self._texts) > self.max_lines:
                raise RemoteProtocolError(f"reply longer than {self.max_lines} lines")
            if last:
                texts, self._code, self._texts = self._texts, None, []
                return _make_reply(int(code), texts)


def _split_line(line: bytes) -> tuple[bytes, bool, str]:
    """"250-text" -> (b"250", False, "text"); garbage raises RemoteProtocolError."""
    if not _CODE_RE.fullmatch(line[:3]) or line[3:4] not in (b"", b" ", b"-"):
        raise RemoteProtocolError(f"malformed reply line {line[:40]!r}")
    if b"\r" in line:
        raise RemoteProtocolError("bare CR in reply")
    return line[:3], line[3:4] != b"-", line[4:].decode("utf-8", "replace")


def _make_reply(code: int, texts: list[str]) -> Reply:
    """Split off the enhanced status code (RFC 2034) if the first line carries one."""
    head, _, _ = texts[0].partition(" ")
    if not ENHANCED_RE.fullmatch(head) or head[0] != str(code)[0]:
        return Reply(code, None, texts)
    lines = [t[len(head) + 1 :] if t.startswith(head + " ") or t == head else t for t in texts]
    return Reply(code, head, lines)


@dataclass(frozen=True)
class Capabilities:
    """The EHLO keywords of a server (upper case) and the values we use."""

    keywords: frozenset[str] = frozenset()
    size: int | None = None  # RFC 1870: None when absent or 0 (no fixed limit)
    auth: frozenset[str] = frozenset()  # RFC 4954 mechanisms

    def __contains__(self, keyword: str) -> bool:
        return keyword.upper() in self.keywords

    @classmethod
    def from_ehlo(cls, reply: Reply) -> Capabilities:
        """Parse a 250 EHLO reply; the first line (the server's name) is skipped."""
        keywords: set[str] = set()
        size: int | None = None
        auth: set[str] = set()
        for line in reply.lines[1:]:
            word, _, rest = line.partition(" ")
            if word[:5].upper() == "AUTH=":  # an old, pre-RFC 4954 form
                word, rest = "AUTH", word[5:] + " " + rest
            if not ESMTP_KEYWORD.fullmatch(word):
                continue
            word = word.upper()
            keywords.add(word)
            params = rest.split(" ", 64)[:64]
            first = params[0]
            if word == "SIZE" and first.isascii() and first.isdigit() and len(first) < 20:
                size = int(first) or None
            elif word == "AUTH":
                auth.update(p.upper() for p in params if p)
        return cls(frozenset(keywords), size, frozenset(auth))
