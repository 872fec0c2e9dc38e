"""A bounded MIME tree over raw bytes (RFC 2045, RFC 2046): offsets, never copies of bodies.

``parse(data)`` never raises. Each ``Part`` records where its header and body lie in the
message, its content fields as written, and its children: the body parts of a multipart,
or the encapsulated message of message/rfc822 and message/global (``Part.message``).

Robustness rules (decisions, documented here once):
- No or invalid Content-Type: text/plain; charset=us-ascii (RFC 2045 5.2). Inside
  multipart/digest the default is message/rfc822 (RFC 2046 5.1.5).
- A multipart without a usable boundary parameter is read as that same default text/plain.
- Boundaries count only at the start of a line, followed by optional "--" and transport
  padding (RFC 2046 5.1.1); the CRLF before a boundary belongs to the boundary. Without a
  close delimiter the last part runs to the end of the enclosing body.
- Nesting deeper than MAX_DEPTH, or parts beyond MAX_PARTS, are opaque:
  application/octet-stream with no children; parts past the budget are dropped from the
  tree (their bytes stay reachable through the enclosing body).
- A message/rfc822|global body is parsed as a message whatever its transfer encoding.
- Of duplicated Content-* fields the first counts; header blocks are capped (see
  posthouse.message.headers.MAX_HEADER_BYTES / MAX_FIELDS), the rest reads as body.
- Content-Transfer-Encoding keeps its first token as written (comments dropped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from posthouse.message.headers import Header, field_text, header_codec, split_header
from posthouse.message.params import (
    Params,
    param_raw,
    parse_content_type,
    parse_disposition,
)

MAX_DEPTH = 32
MAX_PARTS = 1000

DEFAULT_TEXT: tuple[str, str, Params] = ("text", "plain", (("charset", "us-ascii"),))
DEFAULT_DIGEST: tuple[str, str, Params] = ("message", "rfc822", ())
OPAQUE: tuple[str, str, Params] = ("application", "octet-stream", ())
ENCAPSULATING = frozenset({"rfc822", "global"})  # message/ subtypes holding a message


@dataclass(frozen=True, slots=True)
class Part:
    """One MIME entity. ``data[header_start:body_start]`` is its header (blank line
    included), ``data[body_start:end]`` its body. Type strings are as in the message."""

    header_start: int
    body_start: int
    end: int
    maintype: str
    subtype: str
    params: Params = ()
    encoding: str | None = None
    content_id: str | None = None
    description: str | None = None
    disposition: tuple[str, Params] | None = None
    language: tuple[str, ...] | None = None
    location: str | None = None
    md5: str | None = None
    lines: int = 0
    multipart: bool = False
    children: tuple[Part, ...] = ()
    message: Part | None = None
    has_blank_line: bool = True

    @property
    def size(self) -> int:
        """Body size in octets, in its transfer encoding."""
        return self.end - self.body_start

    def is_type(self, maintype: str, subtype: str | None = None) -> bool:
        """Case-insensitive type test."""
        if self.maintype.lower() != maintype:
            return False
        return subtype is None or self.subtype.lower() == subtype

    @property
    def is_message(self) -> bool:
        """Whether this part encapsulates a message (message/rfc822 or message/global)."""
        return self.message is not None


@dataclass(slots=True)
class _Budget:
    parts: int = MAX_PARTS


def count_lines(data: bytes, start: int, end: int) -> int:
    """Lines in ``data[start:end]``: line ends, plus an unterminated last line if any."""
    lines = data.count(b"\n", start, end)
    if end > start and data[end - 1] != 0x0A:
        lines += 1
    return lines


def parse(data: bytes, header: Header | None = None) -> Part:
    """Parse a whole message (bytes as stored, CRLF line ends expected but not required).

    ``header``: the message's top-level header, when the caller has already split it
    (``split_header(data)``), so it is not split twice.
    """
    return _parse_entity(data, 0, len(data), DEFAULT_TEXT, 0, _Budget(MAX_PARTS - 1),
                         header)


def _text(header: Header, name: str) -> str | None:
    found = header.first(name)
    return None if found is None else field_text(found)


def _content_type(header: Header, default: tuple[str, str, Params]) -> tuple[str, str, Params]:
    found = header.first("content-type")
    parsed = None if found is None else parse_content_type(field_text(found))
    return default if parsed is None else parsed


def _first_token(value: str | None) -> str | None:
    """The mechanism of Content-Transfer-Encoding, comments and junk after it dropped."""
    found = None if value is None else re.match(r"[^\s();]+", value)
    return None if found is None else found.group()


def _language(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    tags = tuple(t.strip(" \t") for t in value.split(",") if t.strip(" \t"))
    return tags or None


def _entity(
    header: Header,
    ctype: tuple[str, str, Params],
    bounds: tuple[int, int],
    lines: int,
    *,
    children: tuple[Part, ...] | None = None,
    message: Part | None = None,
) -> Part:
    """A Part from its header fields, content type and structure."""
    disposition_text = _text(header, "content-disposition")
    encoding = _first_token(_text(header, "content-transfer-encoding"))
    return Part(
        header_start=bounds[0],
        body_start=header.body_start,
        end=bounds[1],
        maintype=ctype[0],
        subtype=ctype[1],
        params=ctype[2],
        encoding=encoding,
        content_id=_text(header, "content-id"),
        description=_text(header, "content-description"),
        disposition=None if disposition_text is None else parse_disposition(disposition_text),
        language=_language(_text(header, "content-language")),
        location=_text(header, "content-location"),
        md5=_text(header, "content-md5"),
        lines=lines,
        multipart=children is not None,
        children=children or (),
        message=message,
        has_blank_line=header.has_blank_line,
    )


def _boundary(header: Header, params: Params) -> bytes | None:
    value = param_raw(params, "boundary")
    found = header.first("content-type")
    if not value or found is None:
        return None
    return value.encode(header_codec(found.value), errors="replace")


def _parse_entity(
    data: bytes,
    start: int,
    end: int,
    default: tuple[str, str, Params],
    depth: int,
    budget: _Budget,
    header: Header | None = None,
) -> Part:
    if header is None:
        header = split_header(data, start, end)
    ctype = _content_type(header, default)
    maintype, subtype = ctype[0].lower(), ctype[1].lower()
    bounds = (start, end)
    lines = count_lines(data, header.body_start, end)
    room = depth < MAX_DEPTH and budget.parts > 0
    if maintype == "multipart":
        boundary = _boundary(header, ctype[2])
        if boundary is None:
            ctype = DEFAULT_TEXT
        elif room:
            kids = _children(data, header.body_start, end, boundary, subtype, depth, budget)
            return _entity(header, ctype, bounds, lines, children=kids)
        else:
            ctype = OPAQUE
    elif maintype == "message" and subtype in ENCAPSULATING:
        if room:
            budget.parts -= 1
            inner = _parse_entity(data, header.body_start, end, DEFAULT_TEXT, depth + 1, budget)
            return _entity(header, ctype, bounds, lines, message=inner)
        ctype = OPAQUE
    return _entity(header, ctype, bounds, lines)


def _children(
    data: bytes,
    body_start: int,
    end: int,
    boundary: bytes,
    subtype: str,
    depth: int,
    budget: _Budget,
) -> tuple[Part, ...]:
    default = DEFAULT_DIGEST if subtype == "digest" else DEFAULT_TEXT
    kids: list[Part] = []
    for s, e in split_multipart(data, body_start, end, boundary, budget.parts):
        if budget.parts <= 0:
            break
        budget.parts -= 1
        kids.append(_parse_entity(data, s, e, default, depth + 1, budget))
    return tuple(kids)


def split_multipart(
    data: bytes, start: int, end: int, boundary: bytes, limit: int = MAX_PARTS
) -> list[tuple[int, int]]:
    """The ranges of the first ``limit`` body parts of the multipart body ``data[start:end]``.

    A delimiter line is "--" boundary, "--" for the close delimiter, transport padding and
    a line end, at the start of a line. Preamble and epilogue are skipped; a missing close
    delimiter ends the last part at ``end`` (RFC 2046 5.1.1).
    """
    delimiter = re.compile(
        rb"^--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r\n|\n|\r|\Z)", re.MULTILINE
    )
    ranges: list[tuple[int, int]] = []
    part_start: int | None = None
    for found in delimiter.finditer(data, start, end):
        if part_start is not None:
            here = found.start()
            cut = here - (2 if data[here - 2 : here] == b"\r\n" else 1)
            ranges.append((part_start, max(cut, part_start)))
        if found.group(1) is not None or len(ranges) >= limit:
            return ranges
        part_start = found.end()
    if part_start is not None:
        ranges.append((part_start, end))
    return ranges
