"""The sans-IO IMAP connection core: bytes in, one typed event at a
time out (the events are in events.py; responses are encoded by responses.py).

The core splits the stream into commands (RFC 9051 2.2.1): a command is a line, or several
lines joined by literals announced at a line's end as ``{n}``, ``{n+}`` (RFC 7888) or
``~{n}`` (literal8, RFC 3516). It never buffers a literal before the session has decided:

* ``next_event()`` returns ``NeedLiteral``; the session calls ``accept_literal()`` (and sends
  ``+ ...`` for a synchronizing literal) or ``reject_literal()`` (and sends a tagged NO/BAD).
* A literal larger than ``max_literal``, or one that would make the command exceed
  ``max_command``, is rejected by the core itself with a ``BadInput`` carrying TOOBIG:
  ``NO [TOOBIG]`` for a synchronizing literal (the client will not send it) and
  ``BAD [TOOBIG]`` for a non-synchronizing one (RFC 7888 4/5).
* After a rejected non-synchronizing literal its octets are counted off and dropped as they
  arrive (never buffered), then the rest of that command is dropped up to the end of a line
  that announces no further non-synchronizing literal. The same resync follows an overlong
  line: it is answered ``BAD`` once and skipped up to its LF (and past any literal it
  announced), never in the middle of an accepted literal.

With ``nonsync_max=None`` (LITERAL+) non-synchronizing literals of any size up to
``max_literal`` reach the session; with ``nonsync_max=4096`` (LITERAL-, RFC 7888 4) larger
ones are refused by the core with ``BAD [TOOBIG]`` and skipped as above. Empty lines are
ignored. A bare LF ends a line like CRLF does.

One-shot input modes the session switches on before reading on: ``expect_idle_done()``
(the next line ends IDLE: ``IdleDone``) and ``expect_auth_line()`` (the next line is a SASL
response: ``AuthResponse``, as sent; one too long to keep is a ``BadInput``).
``discard_buffered()`` is the STARTTLS boundary (RFC 9051 6.2.1).
"""

from __future__ import annotations

import enum

from posthouse.imap.events import (
    BadInput,
    IdleDone,
    ImapEvent,
    LiteralArg,
    NeedLiteral,
    RawCommand,
    Segment,
)
from posthouse.imap.replies import ResponseCode
from posthouse.imap.responses import Status
from posthouse.sasl.events import AuthResponse
from posthouse.wire.errors import LocalProtocolError
from posthouse.wire.events import NEED_DATA

# Tag characters: ASTRING-CHAR except "+" (RFC 9051 9: tag = 1*<any ASTRING-CHAR except "+">).
_TAG_CHARS = frozenset(range(0x21, 0x7F)) - frozenset(b'(){%*"\\+')
_NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.")
_TAIL = 32  # octets of a skipped line kept to spot a literal it announces
_MAX_DIGITS = 19
_NO_SEGMENTS: list[Segment] = []  # shared by idle cores: never appended to (_add_segment)




class _Mode(enum.Enum):
    LINE = "line"  # reading a line (a new command, or the rest of one after a literal)
    DECIDE = "decide"  # a literal was announced, waiting for accept/reject
    LITERAL = "literal"  # reading an accepted literal
    SKIP = "skip"  # dropping the octets of a rejected non-synchronizing literal
    DISCARD = "discard"  # dropping the rest of a line


def literal_marker(fragment: bytes) -> tuple[int, int, bool, bool] | None:
    """If ``fragment`` ends by announcing a literal outside quotes, its (start, size, nonsync,
    binary); ``size`` is capped at 10**19 for absurdly long counts."""
    if not fragment.endswith(b"}"):
        return None
    start = fragment.rfind(b"{")
    if start < 0:
        return None
    inner = fragment[start + 1 : -1]
    nonsync = inner.endswith(b"+")
    digits = inner[:-1] if nonsync else inner
    if not digits or not digits.isdigit() or not digits.isascii():
        return None
    size = int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS
    binary = start > 0 and fragment[start - 1] == 0x7E  # "~"
    if _ends_in_quote(fragment[:start]):
        return None
    return (start - 1 if binary else start), size, nonsync, binary


def _ends_in_quote(text: bytes) -> bool:
    if b'"' not in text:
        return False
    in_quote = False
    i = 0
    while i < len(text):
        byte = text[i]
        if in_quote and byte == 0x5C:  # backslash escapes the next octet
            i += 2
            continue
        if byte == 0x22:
            in_quote = not in_quote
        i += 1
    return in_quote


def _valid_tag(raw: bytes) -> bool:
    return bool(raw) and all(b in _TAG_CHARS for b in raw)


class ImapConnection:
    """Splits client input into commands; see the module docstring for the protocol."""

    __slots__ = (
        "_binary",
        "_buf",
        "_cmd_bytes",
        "_literal",
        "_max_command",
        "_mode",
        "_name",
        "_pending",
        "_remaining",
        "_scanned",
        "_segments",
        "_special",
        "_tag",
        "_tail",
        "max_line",
        "max_literal",
        "nonsync_max",
    )

    def __init__(
        self,
        max_line: int,
        max_literal: int,
        max_command: int | None = None,
        *,
        nonsync_max: int | None = None,
    ) -> None:
        self.max_line = max_line
        self.max_literal = max_literal
        self.nonsync_max = nonsync_max
        self._max_command = max_command  # None: the default below, not kept per core
        self._buf = bytearray()
        self._scanned = 0  # octets of _buf already searched for LF (no rescans: no O(n^2))
        self._mode = _Mode.LINE
        self._special: str | None = None
        self._reset_command()
        self._pending: NeedLiteral | None = None
        self._literal: bytes | bytearray = b""  # a bytearray while a literal is read
        self._remaining = 0
        self._binary = False
        self._tail = b""

    @property
    def max_command(self) -> int:
        """The most octets one command may have, literals included."""
        if self._max_command is not None:
            return self._max_command
        return self.max_literal + 16 * self.max_line

    # -- session controls -------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add received octets. Literal octets bypass the line buffer when possible."""
        while data and not self._buf:
            if self._mode is _Mode.SKIP:
                data = data[self._skip(len(data)) :]
            elif self._mode is _Mode.LITERAL:
                n = min(self._remaining, len(data))
                self._literal += data[:n]
                self._remaining -= n
                data = data[n:]
                if not self._remaining:
                    self._finish_literal()
            elif self._mode is _Mode.DISCARD:
                used = self._discard(data)
                if used is None:
                    return
                data = data[used:]
            else:
                break
        self._buf += data

    def next_event(self) -> ImapEvent:
        """The next event; ``NEED_DATA`` when the buffered input is used up."""
        while True:
            mode = self._mode
            if mode is _Mode.DECIDE:
                assert self._pending is not None
                return self._pending
            if mode is not _Mode.LINE:
                self._scanned = 0
            if mode is _Mode.LITERAL:
                n = min(self._remaining, len(self._buf))
                self._literal += self._buf[:n]
                del self._buf[:n]
                self._remaining -= n
                if self._remaining:
                    return NEED_DATA
                self._finish_literal()
            elif mode is _Mode.SKIP:
                del self._buf[: self._skip(len(self._buf))]
                if self._mode is _Mode.SKIP:
                    return NEED_DATA
            elif mode is _Mode.DISCARD:
                used = self._discard(bytes(self._buf))
                if used is None:
                    self._buf.clear()
                    return NEED_DATA
                del self._buf[:used]
            else:
                event = self._read_line()
                if event is not None:
                    return event

    def accept_literal(self) -> None:
        """Read the announced literal (send ``+`` first if it is synchronizing)."""
        pending = self._take_pending()
        self._cmd_bytes += pending.size
        self._literal = bytearray()
        self._remaining = pending.size
        self._binary = pending.binary
        self._mode = _Mode.LITERAL
        if not pending.size:
            self._finish_literal()

    def reject_literal(self) -> None:
        """Drop the command; a non-synchronizing literal's octets are skipped unbuffered."""
        self._drop(self._take_pending())

    def expect_idle_done(self) -> None:
        """The next line ends IDLE (call after sending ``+ idling``)."""
        self._set_special("idle")

    def expect_auth_line(self) -> None:
        """The next line is a SASL response (call after sending a ``+`` challenge)."""
        self._set_special("auth")

    def discard_buffered(self) -> None:
        """Forget all buffered input and any partial command (after STARTTLS OK)."""
        self._buf.clear()
        self._scanned = 0
        self._mode = _Mode.LINE
        self._special = None
        self._pending = None
        self._reset_command()

    @property
    def reading_literal(self) -> bool:
        """True while the octets of a literal are read (accepted, or dropped after a refused
        non-synchronizing one): the adapter paces that input by rate, not line by line."""
        return self._mode is _Mode.LITERAL or self._mode is _Mode.SKIP

    @property
    def buffered(self) -> int:
        """Octets received but not yet consumed."""
        return len(self._buf)

    # -- internals --------------------------------------------------------------------

    def _set_special(self, mode: str) -> None:
        if self._mode is not _Mode.LINE or self._tag is not None:
            raise LocalProtocolError("a special input mode needs an idle reader")
        self._special = mode

    def _take_pending(self) -> NeedLiteral:
        pending = self._pending
        if self._mode is not _Mode.DECIDE or pending is None:
            raise LocalProtocolError("no literal is waiting for a decision")
        self._pending = None
        return pending

    def _reset_command(self) -> None:
        self._tag: str | None = None
        self._name = ""
        self._segments: list[Segment] = _NO_SEGMENTS  # replaced before the first append
        self._cmd_bytes = 0

    def _add_segment(self, segment: Segment) -> None:
        if self._segments is _NO_SEGMENTS:
            self._segments = []
        self._segments.append(segment)

    def _drop(self, need: NeedLiteral) -> None:
        self._reset_command()
        if need.nonsync:
            self._remaining = need.size
            self._mode = _Mode.SKIP
        else:
            self._mode = _Mode.LINE

    def _skip(self, available: int) -> int:
        n = min(self._remaining, available)
        self._remaining -= n
        if not self._remaining:
            self._tail = b""
            self._mode = _Mode.DISCARD
        return n

    def _discard(self, chunk: bytes) -> int | None:
        """Drop a line's octets; at its LF, skip a non-synchronizing literal it announced."""
        end = chunk.find(b"\n")
        if end < 0:
            self._tail = (self._tail + chunk[-_TAIL:])[-_TAIL:]
            return None
        tail = (self._tail + chunk[max(0, end - _TAIL) : end])[-_TAIL:]
        self._tail = b""
        marker = literal_marker(tail.removesuffix(b"\r"))
        if marker is not None and marker[2]:
            self._remaining = marker[1]
            self._mode = _Mode.SKIP if marker[1] else _Mode.DISCARD
        else:
            self._mode = _Mode.LINE
        return end + 1

    def _finish_literal(self) -> None:
        self._add_segment(LiteralArg(bytes(self._literal), self._binary))
        self._literal = b""
        self._mode = _Mode.LINE

    def _overlong(self, end: int) -> bool:
        """Whether the line whose LF is at ``end`` (or is not yet seen: -1) is too long."""
        size = end if end >= 0 else len(self._buf)
        limit = self.max_line + 1
        if size > limit:
            return True
        return size == limit and self._buf[limit - 1] != 0x0D

    def _too_long(self) -> ImapEvent:
        window = bytes(self._buf[: min(64, self.max_line + 1)])
        tag = self._tag
        if tag is None:
            head, sep, _ = window.partition(b" ")
            tag = head.decode("ascii") if sep and _valid_tag(head) else "*"
        special, self._special = self._special, None
        self._reset_command()
        self._tail = b""
        self._mode = _Mode.DISCARD
        if special == "idle":
            return IdleDone(ok=False)
        return BadInput(tag, Status.BAD, "Line too long")

    def _read_line(self) -> ImapEvent | None:
        end = self._buf.find(b"\n", self._scanned)
        if self._overlong(end):
            self._scanned = 0
            return self._too_long()
        if end < 0:
            self._scanned = len(self._buf)
            return NEED_DATA
        line = bytes(self._buf[:end]).removesuffix(b"\r")
        del self._buf[: end + 1]
        self._scanned = 0
        special, self._special = self._special, None
        if special == "idle":
            return IdleDone(ok=line.strip().upper() == b"DONE")
        if special == "auth":
            return AuthResponse(line)
        if self._tag is not None:
            return self._fragment(line)
        return self._first_line(line)

    def _first_line(self, line: bytes) -> ImapEvent | None:
        if not line.strip():
            return None
        head, sep, rest = line.partition(b" ")
        if not _valid_tag(head):
            return self._bad_line("*", line, "Missing or invalid tag")
        tag = head.decode("ascii")
        name, _, _ = rest.partition(b" ")
        if not sep or not name or not all(b in _NAME_CHARS for b in name):
            return self._bad_line(tag, line, "Missing or invalid command name")
        self._tag = tag
        self._name = name.decode("ascii").upper()
        return self._fragment(rest[len(name) :])

    def _bad_line(self, tag: str, line: bytes, text: str) -> BadInput:
        marker = literal_marker(line)
        if marker is not None and marker[2]:
            self._drop(NeedLiteral(tag, marker[1], True, marker[3]))
        return BadInput(tag, Status.BAD, text)

    def _fragment(self, text: bytes) -> ImapEvent:
        assert self._tag is not None
        self._cmd_bytes += len(text)
        marker = literal_marker(text)
        if marker is None:
            cmd = RawCommand(self._tag, self._name, (*self._segments, text))
            self._reset_command()
            return cmd
        start, size, nonsync, binary = marker
        self._add_segment(text[:start])
        need = NeedLiteral(self._tag, size, nonsync, binary, self._name)
        if (
            size > self.max_literal
            or self._cmd_bytes + size > self.max_command
            or (nonsync and self.nonsync_max is not None and size > self.nonsync_max)
        ):
            self._drop(need)
            status = Status.BAD if nonsync else Status.NO
            return BadInput(need.tag, status, "Literal too big", ResponseCode.TOOBIG.code())
        self._pending = need
        self._mode = _Mode.DECIDE
        return need
