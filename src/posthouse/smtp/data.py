"""Message content readers: DATA (RFC 5321 4.1.1.4, 4.5.2) and BDAT chunks (RFC 3030).

DATA ends ONLY at <CRLF>.<CRLF>, where the first CRLF may be the one that ended the DATA command
line, so ".\\r\\n" right after the 354 is an empty message. A bare LF or a bare CR never ends a
line: it neither terminates the message nor starts a line for dot-unstuffing, it only marks
the message as bad. That closes SMTP smuggling (a second message hidden behind "\\n.\\n" that a
downstream server might split off). The caller rejects a marked message after the real end.

Lines longer than 1000 octets (RFC 5321 4.5.3.1.6) are accepted, as Postfix does: real mail
has them, and memory is bounded by the size limit, not the line length.
"""

from __future__ import annotations

_CR = 0x0D
_DOT = 0x2E
_END = b".\r\n"


class DataReader:
    """Streams DATA content: dot-unstuffing, end detection, bare CR/LF and size tracking.

    Feed it every received byte with ``feed``; it returns None while the end marker has not
    been seen, and the bytes that followed the marker once it has. Memory held is the kept
    content (at most ``max_size`` octets) plus at most two carried octets.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.size = 0  # content octets seen after unstuffing, including those dropped
        self.too_big = False
        self.bare_newline = False
        self.done = False
        self._out = bytearray()
        self._carry = b""
        self._line_start = True  # the DATA command's CRLF counts as the first CRLF

    @property
    def content(self) -> bytes:
        """The unstuffed message, ending with the CRLF before the final dot."""
        return bytes(self._out)

    def feed(self, data: bytes) -> bytes | None:
        """Consume ``data``; return the leftover after <CRLF>.<CRLF>, or None if not there yet."""
        if self.done:
            return data
        buf = self._carry + data if self._carry else data
        self._carry = b""
        i, n = 0, len(buf)
        while i < n:
            if self._line_start:
                if buf[i] == _DOT:
                    head = buf[i : i + 3]
                    if head == _END:
                        self.done = True
                        return buf[i + 3 :]
                    if len(head) < 3 and _END.startswith(head):
                        self._carry = head  # "." or ".\r": wait for the next octet
                        return None
                    i += 1  # RFC 5321 4.5.2: drop the first dot of a line
                self._line_start = False
                continue
            i = self._scan(buf, i)
        return None

    def _scan(self, buf: bytes, i: int) -> int:
        """Consume text up to the next line that starts with a dot, or to the end of ``buf``.

        Only a CRLF starts a line, so searching for CRLF "." finds every line-start dot; the
        lines in between are taken whole, which keeps the per-line cost in C.
        """
        j = buf.find(b"\r\n.", i)
        if j >= 0:
            end = j + 2
        else:
            end = len(buf) - 1 if buf[-1] == _CR else len(buf)
            self._carry = buf[end:]  # a trailing CR may be half of a CRLF
        segment = buf[i:end]
        if not self.bare_newline:
            crlf = segment.count(b"\r\n")
            # Every CR must be followed by LF and every LF preceded by CR.
            self.bare_newline = segment.count(b"\r") != crlf or segment.count(b"\n") != crlf
        self._append(segment)
        if segment:
            self._line_start = segment.endswith(b"\r\n")
        return end if j >= 0 else len(buf)

    def _append(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.too_big:
            return
        if self.size > self.max_size:
            self.too_big = True
            self._out = bytearray()  # stop buffering; keep scanning for the end marker
            return
        self._out += chunk


class ChunkReader:
    """Reads exactly ``size`` octets of one BDAT chunk (RFC 3030 2: no dot handling).

    With ``keep`` False (a refused chunk, or the transaction is already over the size limit)
    the octets are consumed and thrown away, so they are never read as commands.
    """

    def __init__(self, size: int, *, keep: bool) -> None:
        self.remaining = size
        self.keep = keep
        self._parts: list[bytes] = []

    def feed(self, take: bytes) -> None:
        """Consume octets (the caller never hands over more than ``remaining``)."""
        assert len(take) <= self.remaining
        self.remaining -= len(take)
        if self.keep and take:
            self._parts.append(take)

    @property
    def done(self) -> bool:
        """All octets of the chunk were read."""
        return self.remaining == 0

    @property
    def data(self) -> bytes:
        """The octets kept so far."""
        return b"".join(self._parts)
