"""A bounded buffer that splits a byte stream into CRLF-terminated lines."""

from __future__ import annotations

from posthouse.wire.errors import RemoteProtocolError


class LineTooLong(RemoteProtocolError):
    """A line exceeded the limit. The buffer has discarded input up to the next LF."""


class LineBuffer:
    """Accumulates bytes; hands out complete lines without their terminator.

    A line ends at LF; a CR immediately before it is removed. (Protocols that must reject a
    bare LF check ``last_line_had_cr``.) A line longer than ``max_line`` raises LineTooLong
    once, after which the rest of that overlong line is skipped, so the session can answer
    with an error and carry on with the next line.
    """

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._buf = bytearray()
        self._skipping = False
        self.last_line_had_cr = False

    def feed(self, data: bytes) -> None:
        """Add received bytes."""
        self._buf += data

    def next_line(self) -> bytes | None:
        """The next complete line, or None if more bytes are needed."""
        while True:
            end = self._buf.find(b"\n")
            if self._skipping:
                if end < 0:
                    self._buf.clear()
                    return None
                del self._buf[: end + 1]
                self._skipping = False
                continue
            if end < 0:
                if len(self._buf) > self.max_line + 1:
                    self._buf.clear()
                    self._skipping = True
                    raise LineTooLong(f"line longer than {self.max_line} octets")
                return None
            if end > self.max_line + 1:
                del self._buf[: end + 1]
                raise LineTooLong(f"line longer than {self.max_line} octets")
            line = bytes(self._buf[:end])
            del self._buf[: end + 1]
            self.last_line_had_cr = line.endswith(b"\r")
            return line[:-1] if self.last_line_had_cr else line

    def take(self, n: int) -> bytes:
        """Remove and return up to ``n`` raw bytes (for literals and bodies)."""
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def take_all(self) -> bytes:
        """Remove and return every buffered byte."""
        out = bytes(self._buf)
        self._buf.clear()
        return out

    def discard(self) -> None:
        """Drop everything buffered (the STARTTLS boundary: RFC 3207 section 4.2)."""
        self._buf.clear()
        self._skipping = False

    def __len__(self) -> int:
        return len(self._buf)
