"""MIME structured values: ``type/subtype; a=b`` and ``disposition; a=b`` (RFC 2045, 2183).

Parameters come out in the form IMAP shows them in BODYSTRUCTURE: names lower-cased,
RFC 2231 continuations (``name*0``, ``name*1*``) merged into one parameter, and an extended
value kept encoded as ``name*`` = ``charset'lang'%xx..`` (so that clients that understand
RFC 2231 can decode it and others still see something sane). ``param_text`` decodes fully.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote_to_bytes

from posthouse.message.headers import decode_charset, decode_words

Params = tuple[tuple[str, str], ...]

_MAX_VALUE = 65536  # longer structured values are truncated before parsing
_MAX_PARAMS = 100
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+")
_SECTION = re.compile(r"^(.+?)\*(\d{1,3})(\*?)$")


def _segments(text: str) -> list[str]:
    """Split at ";" outside quoted strings, dropping RFC 822 comments outside quotes."""
    segments: list[str] = []
    current: list[str] = []
    quoted = False
    depth = 0
    escaped = False
    for ch in text[:_MAX_VALUE]:
        if escaped:
            escaped = False
            if depth == 0:
                current.append(ch)
        elif ch == "\\" and (quoted or depth):
            escaped = True
            if depth == 0:
                current.append(ch)
        elif quoted:
            quoted = ch != '"'
            current.append(ch)
        elif depth:
            depth += {"(": 1, ")": -1}.get(ch, 0)
        elif ch == "(":
            depth = 1
        elif ch == ";":
            segments.append("".join(current))
            current = []
        else:
            quoted = ch == '"'
            current.append(ch)
    segments.append("".join(current))
    return segments


def _unquote(value: str) -> str:
    """The content of a quoted-string (escapes removed), or the bare value stripped."""
    value = value.strip(" \t\r\n")
    if not value.startswith('"'):
        return value
    out: list[str] = []
    escaped = False
    for ch in value[1:]:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            break
        else:
            out.append(ch)
    return "".join(out)


def _raw_params(segments: list[str]) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    for segment in segments[:_MAX_PARAMS]:
        name, eq, value = segment.partition("=")
        name = name.strip(" \t\r\n").lower()
        if eq and name and " " not in name:
            params.append((name, _unquote(value)))
    return params


def _merge_sections(base: str, sections: dict[int, tuple[str, bool]]) -> tuple[str, str] | None:
    """Join ``base*0``, ``base*1``... (RFC 2231 3-4); None when ``base*0`` is missing."""
    values: list[tuple[str, bool]] = []
    while len(values) in sections:
        values.append(sections[len(values)])
    if not values:
        return None
    if not any(extended for _, extended in values):
        return base, "".join(value for value, _ in values)
    joined = "" if values[0][1] else "''"
    for value, extended in values:
        joined += value if extended else quote(value, safe="")
    return base + "*", joined


def merge_rfc2231(raw: list[tuple[str, str]]) -> Params:
    """Merge continuations; the first parameter of a given name wins (duplicates dropped).

    Any name may come from the message, NUL and other control characters included, so the
    order of first appearance is kept as (name, is a section) pairs, never with a marker
    character inside the name.
    """
    merged: dict[str, str] = {}
    pending: dict[str, dict[int, tuple[str, bool]]] = {}
    order: list[tuple[str, bool]] = []
    for name, value in raw:
        section = _SECTION.match(name)
        if section is None:
            if name in pending:  # "name*0" came first and wins
                continue
            if name not in merged:
                order.append((name, False))
            merged.setdefault(name, value)
            continue
        base = section.group(1)
        if base not in pending:
            order.append((base, True))
            pending[base] = {}
        pending[base].setdefault(int(section.group(2)), (value, section.group(3) == "*"))
    result: list[tuple[str, str]] = []
    for key, sectioned in order:
        if not sectioned:
            result.append((key, merged[key]))
            continue
        joined = _merge_sections(key, pending[key])
        if joined is not None and joined[0] not in merged:
            result.append(joined)
    return tuple(result)


def parse_content_type(text: str) -> tuple[str, str, Params] | None:
    """``(type, subtype, params)`` as written in the message, or None when syntactically
    invalid (RFC 2045 5.2: the caller then assumes text/plain; charset=us-ascii)."""
    segments = _segments(text)
    kind, slash, rest = segments[0].strip(" \t\r\n").partition("/")
    maintype = _TOKEN.match(kind.strip(" \t"))
    subtype = _TOKEN.match(rest.strip(" \t"))
    if not slash or maintype is None or subtype is None:
        return None
    if maintype.group() != kind.strip(" \t"):
        return None
    return maintype.group(), subtype.group(), merge_rfc2231(_raw_params(segments[1:]))


def parse_disposition(text: str) -> tuple[str, Params] | None:
    """``(disposition type, params)`` of Content-Disposition (RFC 2183), None if empty."""
    segments = _segments(text)
    kind = _TOKEN.match(segments[0].strip(" \t\r\n"))
    if kind is None:
        return None
    return kind.group(), merge_rfc2231(_raw_params(segments[1:]))


def decode_rfc2231(value: str) -> str:
    """Decode an extended value ``charset'language'percent-encoded`` (RFC 2231 4)."""
    pieces = value.split("'", 2)
    charset, encoded = (pieces[0], pieces[2]) if len(pieces) == 3 else ("utf-8", value)
    return decode_charset(unquote_to_bytes(encoded), charset or "utf-8")


def param_text(params: Params, name: str) -> str | None:
    """A parameter's decoded value: RFC 2231 form preferred, else RFC 2047 words (common
    though non-standard in filenames) decoded."""
    wanted = name.lower()
    lookup = dict(params)
    if wanted + "*" in lookup:
        return decode_rfc2231(lookup[wanted + "*"])
    if wanted in lookup:
        return decode_words(lookup[wanted])
    return None


def param_raw(params: Params, name: str) -> str | None:
    """A parameter's value as merged, without RFC 2231 decoding (e.g. ``boundary``)."""
    return dict(params).get(name.lower())
