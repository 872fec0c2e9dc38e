"""Typed IMAP responses and the one encoder that turns nested values into wire bytes.

``encode_value(value)`` is the contract other modules (bodystructure.py, the handlers) build on.
It maps Python values to IMAP syntax (RFC 9051 section 4 / RFC 3501 section 4):

=====================  ==========================================================
``None``               ``NIL``
``int`` (>= 0)         a number (``bool`` is refused: it is a bug, not a number)
``Atom("\\Seen")``     the text as is (flags, keywords, item names, capabilities)
``str``                a quoted string when safe (printable, no CR/LF/NUL, no 8-bit
                       unless ``utf8=True``, at most ``QUOTED_MAX`` octets), else a
                       literal ``{n}`` of its UTF-8 octets
``bytes``              a quoted string if short printable US-ASCII, else a literal
``Literal8(b"...")``   a binary literal ``~{n}`` (RFC 3516: BINARY[] data)
``list`` / ``tuple``   a parenthesised list, items separated by one space
=====================  ==========================================================

``Value`` is typed with ``Sequence`` (covariant) so that a ``list`` built with a narrower
element type (bodystructure.py's ``str | int | None | list``) is accepted; at run time only
``list`` and ``tuple`` are lists.

``encode_chunks`` gives the same bytes as a list of pieces in which a long ``bytes`` or
``Literal8`` payload appears as its own object, so a message body is never copied into a
bigger buffer before it reaches the socket.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from posthouse.imap.sequence import compress
from posthouse.sasl import Challenge

QUOTED_MAX = 1024  # longer strings go out as literals
_INLINE_MAX = 4096  # payloads up to this size are joined into the surrounding chunk


@dataclass(frozen=True, slots=True)
class Atom:
    """Text written to the wire as is: flags, keywords, FETCH item names, capabilities.

    The caller guarantees it is valid IMAP syntax (no CR, LF or NUL; checked).
    """

    text: str

    def __post_init__(self) -> None:
        text = self.text
        if not text or "\r" in text or "\n" in text or "\x00" in text:
            raise ValueError(f"not an atom: {text!r}")


@functools.lru_cache(maxsize=4096)
def atom(text: str) -> Atom:
    """The Atom for ``text``, shared: flags and item names recur in every FETCH response.
    Bounded, because keywords come from clients."""
    return Atom(text)


@dataclass(frozen=True, slots=True)
class Literal8:
    """Binary data sent as a literal8 ``~{n}`` (RFC 3516 section 4.2)."""

    data: bytes


Value: TypeAlias = (
    "int | str | bytes | Atom | Literal8 | Sequence[Value] | None"
)


def _quotable(raw: bytes, utf8: bool) -> bool:
    if len(raw) > QUOTED_MAX:
        return False
    if raw.isascii():
        return all(0x20 <= b <= 0x7E for b in raw)
    return utf8 and not any(b < 0x20 or b == 0x7F for b in raw)


def _quote(raw: bytes) -> bytes:
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


class _Out:
    """Collects small pieces into one bytearray and keeps big payloads as their own chunk."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.buf = bytearray()

    def add(self, data: bytes) -> None:
        self.buf += data

    def payload(self, data: bytes) -> None:
        if len(data) <= _INLINE_MAX:
            self.buf += data
            return
        if self.buf:
            self.chunks.append(bytes(self.buf))
            self.buf.clear()
        self.chunks.append(data)

    def done(self) -> list[bytes]:
        if self.buf:
            self.chunks.append(bytes(self.buf))
            self.buf.clear()
        return self.chunks


def _emit_string(raw: bytes, out: _Out, utf8: bool, *, force_literal: bool = False) -> None:
    if not force_literal and _quotable(raw, utf8):
        out.add(_quote(raw))
    else:
        out.add(b"{%d}\r\n" % len(raw))
        out.payload(raw)


def bytes_value(raw: bytes) -> bytes:
    """A ``bytes`` value as ``encode_value`` writes it (quoted if short printable
    US-ASCII, else a literal), for writers that build responses straight to bytes."""
    if len(raw) <= 64 and _quotable(raw, False):
        return _quote(raw)
    return b"{%d}\r\n" % len(raw) + raw


def _emit(value: Value, out: _Out, utf8: bool) -> None:
    # Exact types first, cheapest test: this runs for every item of every response.
    if type(value) is Atom:
        out.buf += value.text.encode("utf-8")
    elif type(value) is int:
        if value < 0:
            raise ValueError("IMAP numbers are unsigned")
        out.buf += b"%d" % value
    elif type(value) is list or type(value) is tuple:
        out.buf += b"("
        _emit_seq(value, out, utf8)
        out.buf += b")"
    elif value is None:
        out.add(b"NIL")
    elif isinstance(value, bool):
        raise TypeError("bool is not an IMAP value")
    elif isinstance(value, int):
        if value < 0:
            raise ValueError("IMAP numbers are unsigned")
        out.add(b"%d" % value)
    elif isinstance(value, Atom):
        out.add(value.text.encode("utf-8"))
    elif isinstance(value, str):
        _emit_string(value.encode("utf-8"), out, utf8)
    elif isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value) if not isinstance(value, bytes) else value
        _emit_string(raw, out, utf8=False, force_literal=len(raw) > 64)
    elif isinstance(value, Literal8):
        out.add(b"~{%d}\r\n" % len(value.data))
        out.payload(value.data)
    elif isinstance(value, list | tuple):
        out.add(b"(")
        _emit_seq(value, out, utf8)
        out.add(b")")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as an IMAP value")


def _emit_seq(values: Iterable[Value], out: _Out, utf8: bool) -> None:
    first = True
    for item in values:
        if first:
            first = False
        else:
            out.buf += b" "
        _emit(item, out, utf8)


def encode_chunks(value: Value, *, utf8: bool = False) -> list[bytes]:
    """Encode ``value`` as a list of byte chunks (large payloads are not copied)."""
    out = _Out()
    _emit(value, out, utf8)
    return out.done()


def encode_value(value: Value, *, utf8: bool = False) -> bytes:
    """Encode one nested value (see the module docstring for the mapping)."""
    return b"".join(encode_chunks(value, utf8=utf8))


class Status(enum.Enum):
    """Status condition of a status response (RFC 9051 7.1)."""

    OK = "OK"
    NO = "NO"
    BAD = "BAD"
    PREAUTH = "PREAUTH"
    BYE = "BYE"


@dataclass(frozen=True, slots=True)
class Code:
    """A response code: ``[NAME arg arg ...]``; ``args`` are encoded values joined by SP."""

    name: str
    args: tuple[Value, ...] = ()


@dataclass(frozen=True, slots=True)
class Tagged:
    """The completion of one command: ``tag OK|NO|BAD [code] text``."""

    tag: str
    status: Status
    text: str
    code: Code | None = None


@dataclass(frozen=True, slots=True)
class UntaggedStatus:
    """``* OK|NO|BAD|PREAUTH [code] text`` (greeting, alerts, warnings)."""

    status: Status
    text: str
    code: Code | None = None


@dataclass(frozen=True, slots=True)
class Bye:
    """``* BYE [code] text``: the server is closing the connection."""

    text: str
    code: Code | None = None


@dataclass(frozen=True, slots=True)
class Untagged:
    """An untagged data response: ``*`` then ``data`` encoded and separated by SP.

    Example: ``Untagged((3, Atom("EXISTS")))`` -> ``* 3 EXISTS``.
    """

    data: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Continuation:
    """A command continuation request ``+ text`` (literal go-ahead, IDLE, SASL challenge)."""

    text: str = "Ready"

    @classmethod
    def challenge(cls, challenge: Challenge) -> Continuation:
        """A SASL challenge: ``+`` and its base64 text (RFC 9051 6.2.2)."""
        return cls(challenge.encoded().decode("ascii"))


@dataclass(frozen=True, slots=True)
class Encoded:
    """Untagged responses already in wire form, CRLF included: many metadata-only FETCH
    responses written at once (handlers/fetch_lines.py), byte for byte what ``Untagged``
    would give."""

    data: bytes


Response: TypeAlias = Tagged | UntaggedStatus | Bye | Untagged | Encoded | Continuation


def _clean_text(text: str) -> bytes:
    return text.replace("\r", " ").replace("\n", " ").replace("\x00", "").encode("utf-8")


def _status_line(head: bytes, status: Status, code: Code | None, text: str, out: _Out) -> None:
    out.add(head + b" " + status.value.encode("ascii") + b" ")
    if code is not None:
        out.add(b"[" + code.name.encode("ascii"))
        for arg in code.args:
            out.add(b" ")
            _emit(arg, out, utf8=False)
        out.add(b"] ")
    out.add(_clean_text(text))


def response_chunks(response: Response, *, utf8: bool = False) -> list[bytes]:
    """Encode one response, CRLF included, as a list of chunks."""
    if isinstance(response, Encoded):
        return [response.data]
    out = _Out()
    if isinstance(response, Tagged):
        _status_line(response.tag.encode("ascii"), response.status, response.code,
                     response.text, out)
    elif isinstance(response, UntaggedStatus):
        _status_line(b"*", response.status, response.code, response.text, out)
    elif isinstance(response, Bye):
        _status_line(b"*", Status.BYE, response.code, response.text, out)
    elif isinstance(response, Untagged):
        out.add(b"* ")
        _emit_seq(response.data, out, utf8)
    else:
        out.add(b"+ " + _clean_text(response.text))
    out.add(b"\r\n")
    return out.done()


def encode_response(response: Response, *, utf8: bool = False) -> bytes:
    """Encode one response, CRLF included."""
    return b"".join(response_chunks(response, utf8=utf8))


def flag_list(flags: Iterable[str]) -> list[Value]:
    """Flags as a parenthesised list of atoms (sorted, so output is stable)."""
    return [Atom(f) for f in sorted(flags)]


def exists(count: int) -> Untagged:
    """``* n EXISTS``."""
    return Untagged((count, Atom("EXISTS")))


def recent(count: int) -> Untagged:
    """``* n RECENT`` (IMAP4rev1 only)."""
    return Untagged((count, Atom("RECENT")))


def expunge(msn: int) -> Untagged:
    """``* n EXPUNGE``."""
    return Untagged((msn, Atom("EXPUNGE")))


def fetch(msn: int, items: Sequence[Value]) -> Untagged:
    """``* n FETCH (name value ...)``; ``items`` alternates item names (Atoms) and values."""
    return Untagged((msn, Atom("FETCH"), list(items)))


def uid_fetch(uid: int, items: Sequence[Value]) -> Untagged:
    """``* uid UIDFETCH (name value ...)``: the FETCH response of a session that enabled
    UIDONLY, which carries the UID in place of the message number (RFC 9586 3.3)."""
    return Untagged((uid, Atom("UIDFETCH"), list(items)))


def vanished(uids: Sequence[int], *, earlier: bool = False) -> Untagged:
    """``* VANISHED [(EARLIER)] uid-set`` for sorted unique uids (RFC 7162 3.2.10)."""
    head: tuple[Value, ...] = (Atom("VANISHED"), [Atom("EARLIER")]) if earlier else (
        Atom("VANISHED"),)
    return Untagged((*head, Atom(compress(list(uids)))))

