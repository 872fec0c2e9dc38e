"""Header blocks over raw bytes: split into fields, unfold, fold, decode (RFC 5322, RFC 2047).

Everything here is total: garbage input yields garbage fields, never an exception.
"""

from __future__ import annotations

import binascii
import functools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

_WSP = b" \t"
_MAX_CHARSET = 64
# A header block is cut (the rest read as body) past these: Postfix's own limit is 100 KiB.
MAX_HEADER_BYTES = 1 << 18
MAX_FIELDS = 5000
# RFC 5322 3.6.8: field-name = 1*ftext, ftext = %d33-57 / %d59-126 (printable ASCII but ":").
_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+")
# A field's first line: the name at a line start, optional WSP (RFC 5322 4.5.3 obsolete
# syntax), ":". A continuation line starts with WSP, which no name contains.
_FIELD_NAME_LINE = re.compile(rb"^(" + _FIELD_NAME.pattern + rb")[ \t]*:", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Field:
    """One header field exactly as it appears, continuation lines and line end included.

    ``name`` is "" for a line that is not a field (no colon, or an invalid name): such
    lines are kept so that offsets stay exact, but no name lookup ever matches them.
    """

    name: str
    raw: bytes
    colon: int  # index of ":" in raw, -1 for a garbage line

    @property
    def value(self) -> bytes:
        """The raw value after the colon, still folded, without the final line end."""
        return _strip_eol(self.raw[self.colon + 1 :])

    def matches(self, lowered_name: str) -> bool:
        """Whether the field name equals ``lowered_name`` ASCII-case-insensitively."""
        return bool(self.name) and self.name.lower() == lowered_name


@dataclass(frozen=True, slots=True)
class Header:
    """A header block: its fields, where the body starts, whether a blank line ended it."""

    fields: tuple[Field, ...]
    body_start: int
    has_blank_line: bool
    # lower-cased name -> its fields in message order, built once (lookups are frequent)
    index: dict[str, tuple[Field, ...]] = field(default_factory=dict, compare=False,
                                                repr=False)

    def get_all(self, name: str) -> Iterator[Field]:
        """The fields called ``name`` (case-insensitive), in message order."""
        return iter(self.index.get(name.lower(), ()))

    def first(self, name: str) -> Field | None:
        """The first field called ``name``: for duplicated fields the first one wins."""
        found = self.index.get(name.lower())
        return found[0] if found else None


def _strip_eol(raw: bytes) -> bytes:
    if raw.endswith(b"\r\n"):
        return raw[:-2]
    if raw.endswith(b"\n"):
        return raw[:-1]
    return raw


def _field_name(line: bytes) -> tuple[str, int]:
    """The field name and colon index of a first field line; ("", -1) when it is not one."""
    colon = line.find(b":")
    if colon <= 0:
        return "", -1
    name = line[:colon].rstrip(_WSP)  # RFC 5322 4.5.3 obsolete syntax: WSP before ":"
    if _FIELD_NAME.fullmatch(name) is None:
        return "", -1
    return name.decode("ascii"), colon


def header_block(data: bytes) -> bytes:
    """The header section of a message, up to (not including) the blank line: for the
    byte-level scans (``field_names``, 8-bit checks). Only CRLF ends a line here; without a
    CRLF CRLF the whole message is header, unless it starts with CRLF (then none)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return data if not data.startswith(b"\r\n") else b""
    return data[: end + 2]


def field_names(header: bytes) -> Iterator[bytes]:
    """The name of each field in a header section, as given, in order: a scan by pattern
    for callers that only ask which fields are there (no Field objects, no limits; every
    line of ``header`` counts, so pass the header section only)."""
    return (m.group(1) for m in _FIELD_NAME_LINE.finditer(header))


def split_header(data: bytes, start: int = 0, end: int | None = None) -> Header:
    """Split the header block starting at ``start`` (bounded by ``end``) into fields.

    The block ends at the first empty line (CRLF, or a bare LF, tolerated); without one the
    header runs to ``end`` and the body is empty. A header beyond MAX_HEADER_BYTES or
    MAX_FIELDS ends there, without blank line, and the rest counts as body.
    """
    spans, body_start, blank = header_spans(data, start, end)
    return _header(_make_fields(data, spans), body_start, blank)


def header_spans(
    data: bytes, start: int = 0, end: int | None = None
) -> tuple[list[tuple[int, int]], int, bool]:
    """``split_header`` without Field objects: the (start, end) of each field (continuation
    lines merged), where the body starts, and whether a blank line ended the header."""
    stop = len(data) if end is None else end
    pos = start
    spans: list[tuple[int, int]] = []
    while pos < stop and pos - start < MAX_HEADER_BYTES:
        nl = data.find(b"\n", pos, stop)
        line_end = stop if nl < 0 else nl + 1
        if line_end - pos <= 2 and data[pos:line_end] in (b"\r\n", b"\n"):
            return spans, line_end, True
        if data[pos] in _WSP and spans:
            spans[-1] = (spans[-1][0], line_end)
        elif len(spans) < MAX_FIELDS:
            spans.append((pos, line_end))
        else:
            break
        pos = line_end
    return spans, pos, False


def select_fields(data: bytes, names: Iterable[str], keep: bool) -> tuple[list[bytes], bool]:
    """The raw fields of the top-level header whose name is (keep=True) or is not
    (keep=False) in ``names``, as ``split_header(data).fields`` would select them (a line
    that is not a valid field never matches), and whether a blank line ended the header.

    Only the names that match are validated and no Field is built: FETCH of a few header
    fields is the hot path of every mail client's message list.
    """
    if keep:
        fast = _select_fast(data, tuple(names))
        if fast is not None:
            return fast
    wanted = _wanted_names(tuple(names))
    spans, _, blank = header_spans(data)
    chosen: list[bytes] = []
    find = data.find
    for s, e in spans:
        colon = find(b":", s, e)
        # a colon past the first line leaves a name with a line end: fullmatch refuses it
        name = data[s:colon].rstrip(_WSP) if colon > s else b""
        hit = name.lower() in wanted and _FIELD_NAME.fullmatch(name) is not None
        if hit == keep:
            chosen.append(data[s:e])
    return chosen, blank


def _select_fast(data: bytes, names: tuple[str, ...]) -> tuple[list[bytes], bool] | None:
    """``select_fields(data, names, keep=True)`` with one regular-expression scan of the
    header (no per-line Python step); None when the header is too big for the limits of
    ``header_spans`` to be out of play (the general path then decides)."""
    return _scan_fields(data, _fields_pattern(names))


def fields_finder(
    names: Iterable[str],
) -> Callable[[bytes], tuple[list[bytes], bool] | None]:
    """``_select_fast`` for these names with their pattern looked up once: a FETCH of a few
    header fields over many messages calls it per message."""
    pattern = _fields_pattern(tuple(names))
    return lambda data: _scan_fields(data, pattern)


def _scan_fields(
    data: bytes, pattern: re.Pattern[bytes] | None
) -> tuple[list[bytes], bool] | None:
    if data.startswith((b"\r\n", b"\n")):
        return [], True
    # where the blank line (or the data) starts: the first LF CRLF or LF LF; the second
    # search stops where the first found one, so a body is scanned at most once
    crlf = data.find(b"\n\r\n")
    lf = data.find(b"\n\n", 0, crlf + 1 if crlf >= 0 else len(data))
    blank = lf >= 0 or crlf >= 0
    end = (lf if lf >= 0 else crlf) + 1 if blank else len(data)
    if end >= MAX_HEADER_BYTES or data.count(b"\n", 0, end) >= MAX_FIELDS - 1:
        return None
    if pattern is None:
        return [], blank
    return pattern.findall(data, 0, end), blank  # the pattern has no capturing group


@functools.lru_cache(maxsize=256)  # bounded: the names come from clients
def _fields_pattern(names: tuple[str, ...]) -> re.Pattern[bytes] | None:
    """A field whose name is one of ``names`` (ASCII case-insensitively), at a line start
    (a continuation line starts with WSP, which no name holds), with its continuation
    lines; None if no name can be a field name."""
    valid = sorted({n.lower().encode("ascii") for n in names
                    if n.isascii() and _FIELD_NAME.fullmatch(n.encode("ascii"))})
    if not valid:
        return None
    alternatives = b"|".join(re.escape(name) for name in valid)
    return re.compile(rb"^(?:" + alternatives + rb")[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*\n?",
                      re.IGNORECASE | re.MULTILINE)


@functools.lru_cache(maxsize=256)  # bounded: the names come from clients
def _wanted_names(names: tuple[str, ...]) -> frozenset[bytes]:
    return frozenset(name.lower().encode("ascii") for name in names if name.isascii())


def _header(fields: tuple[Field, ...], body_start: int, blank: bool) -> Header:
    index: dict[str, list[Field]] = {}
    for f in fields:
        if f.name:
            index.setdefault(f.name.lower(), []).append(f)
    return Header(fields, body_start, blank, {k: tuple(v) for k, v in index.items()})


def _make_fields(data: bytes, spans: list[tuple[int, int]]) -> tuple[Field, ...]:
    fields = []
    for s, e in spans:
        nl = data.find(b"\n", s, e)
        name, colon = _field_name(data[s : e if nl < 0 else nl])
        fields.append(Field(name, data[s:e], colon))
    return tuple(fields)


_FOLD = re.compile(rb"\r?\n(?=[ \t])")


def unfold(value: bytes) -> bytes:
    """Remove every CRLF (or bare LF) that precedes whitespace (RFC 5322 2.2.3)."""
    return _FOLD.sub(b"", value) if b"\n" in value else value


def decode_bytes(value: bytes) -> str:
    """Header bytes as text: UTF-8 (RFC 6532) when valid, else Latin-1 (never fails)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def header_codec(value: bytes) -> str:
    """The codec ``decode_bytes`` used, so that a substring can be re-encoded exactly."""
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def field_text(field: Field) -> str:
    """The unfolded value as text, outer whitespace removed; encoded-words left as they are."""
    return decode_bytes(unfold(field.value)).strip(" \t\r\n")


def clean_string(text: str) -> str:
    """Drop characters an IMAP string may not carry (NUL, CR, LF)."""
    return text.replace("\x00", "").replace("\r", "").replace("\n", "")


# RFC 2047 section 2; the charset may carry an RFC 2231 section 5 "*language" suffix.
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([QqBb])\?([!->@-~]*)\?=")


def decode_base64(data: bytes) -> bytes:
    """Lenient base64: ignore characters outside the alphabet and repair padding."""
    cleaned = re.sub(rb"[^A-Za-z0-9+/=]", b"", data)
    out = []
    for chunk in re.split(rb"=+", cleaned):
        piece = chunk[:-1] if len(chunk) % 4 == 1 else chunk  # a lone sextet carries no octet
        if piece:
            out.append(binascii.a2b_base64(piece + b"=" * (-len(piece) % 4)))
    return b"".join(out)


def _word_bytes(encoding: str, text: str) -> bytes:
    raw = text.encode("ascii")
    if encoding in "Bb":
        return decode_base64(raw)
    return binascii.a2b_qp(raw, header=True)


def decode_charset(data: bytes, charset: str) -> str:
    """Bytes in a declared charset as text; unknown or unusable charsets fall back to UTF-8.

    The result is always encodable as UTF-8 (codecs such as unicode_escape can yield lone
    surrogates; those become "?").
    """
    name = charset.strip().strip('"').lower()[:_MAX_CHARSET]
    if name in ("", "us-ascii", "ascii", "unknown-8bit", "x-unknown"):
        name = "utf-8"  # a superset that reads mislabelled 8-bit text best
    try:
        text = data.decode(name, errors="replace")
    except (LookupError, UnicodeError, ValueError, TypeError):
        return data.decode("utf-8", errors="replace")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="replace").decode("utf-8")
    return text


def _runs(text: str) -> Iterator[tuple[str, list[re.Match[str]]]]:
    """Yield (literal text, run of adjacent encoded words) pairs in order (RFC 2047 6.2)."""
    pos = 0
    run: list[re.Match[str]] = []
    for match in _ENCODED_WORD.finditer(text):
        between = text[pos : match.start()]
        if run and between.strip(" \t\r\n") == "":
            run.append(match)  # whitespace between adjacent encoded-words is dropped
        else:
            if run:
                yield "", run
            yield between, []
            run = [match]
        pos = match.end()
    if run:
        yield "", run
    yield text[pos:], []


def _decode_run(run: Iterable[re.Match[str]]) -> str:
    """Decode adjacent words, joining bytes of the same charset before decoding."""
    parts: list[str] = []
    charset = ""
    buffer = b""
    for match in run:
        word_charset = match.group(1).lower()
        if word_charset != charset and buffer:
            parts.append(decode_charset(buffer, charset))
            buffer = b""
        charset = word_charset
        buffer += _word_bytes(match.group(2), match.group(3))
    if buffer:
        parts.append(decode_charset(buffer, charset))
    return "".join(parts)


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded-words anywhere in ``text`` (lenient, as clients are)."""
    if "=?" not in text:
        return text
    return "".join(literal if not run else _decode_run(run) for literal, run in _runs(text))


def decoded_value(field: Field) -> str:
    """The field value unfolded and with encoded-words decoded: what SEARCH matches."""
    return clean_string(decode_words(field_text(field)))


def fold(name: str, value: str, width: int = 78) -> bytes:
    """A field line ``name: value`` folded before whitespace so lines stay within ``width``.

    Words longer than the width are kept whole (RFC 5322 2.1.1 allows up to 998 octets).
    """
    words = re.findall(r"[ \t]*[^ \t]+", " ".join(value.split("\r\n")).replace("\n", " "))
    lines: list[str] = []
    current = name + ":"
    for word in words:
        if not word[0].isspace():
            word = " " + word
        if len(current) + len(word) > width and current != name + ":":
            lines.append(current)
            current = word
        else:
            current += word
    lines.append(current)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")
