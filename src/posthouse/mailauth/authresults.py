"""The Authentication-Results header field (RFC 8601): building ours and removing forgeries.

RFC 8601 5: a border MTA removes every Authentication-Results field that claims its own
authserv-id before adding its own, or a sender could forge "dkim=pass" in this host's name.
Fields of other authserv-ids are kept (they are trusted or not by their name).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from posthouse.message.headers import header_spans

_FOLDING = re.compile(rb"\r?\n[ \t]")
_TOKEN = re.compile(rb'"((?:[^"\\]|\\.)*)"|([^\s;()"]+)')
FIELD_NAME = b"authentication-results"


def authentication_results(authserv_id: str, resinfos: Sequence[str]) -> bytes:
    """The field with one resinfo per line (``none`` when nothing was checked), CRLF ended."""
    if not resinfos:
        return f"Authentication-Results: {authserv_id}; none\r\n".encode()
    lines = ";\r\n\t".join(resinfos)
    return f"Authentication-Results: {authserv_id};\r\n\t{lines}\r\n".encode()


def authserv_id(value: bytes) -> str:
    """The authserv-id an Authentication-Results value starts with (comments skipped),
    lower-cased; "" when there is none."""
    text = _FOLDING.sub(b" ", value)
    pos = 0
    while pos < len(text):
        ch = text[pos : pos + 1]
        if ch in (b" ", b"\t", b"\r", b"\n"):
            pos += 1
        elif ch == b"(":
            pos = _after_comment(text, pos)
        else:
            break
    match = _TOKEN.match(text, pos)
    if match is None:
        return ""
    word = match.group(1) if match.group(1) is not None else match.group(2)
    return re.sub(rb"\\(.)", rb"\1", word).decode("utf-8", "replace").lower()


def _after_comment(text: bytes, pos: int) -> int:
    """The index after the (possibly nested) comment starting at ``pos``."""
    depth = 0
    while pos < len(text):
        ch = text[pos : pos + 1]
        if ch == b"\\":
            pos += 2
            continue
        if ch == b"(":
            depth += 1
        elif ch == b")":
            depth -= 1
            if depth == 0:
                return pos + 1
        pos += 1
    return pos


def strip_forged(message: bytes, own_id: str) -> tuple[bytes, int]:
    """``message`` without the Authentication-Results fields claiming ``own_id``, and how
    many were removed. The rest of the message is returned byte for byte."""
    spans, _, _ = header_spans(message)
    own = own_id.lower()
    removed: list[tuple[int, int]] = []
    for start, end in spans:
        raw = message[start:end]
        name, colon, value = raw.partition(b":")
        if colon and name.rstrip(b" \t").lower() == FIELD_NAME and authserv_id(value) == own:
            removed.append((start, end))
    if not removed:
        return message, 0
    parts: list[bytes] = []
    pos = 0
    for start, end in removed:
        parts.append(message[pos:start])
        pos = end
    parts.append(message[pos:])
    return b"".join(parts), len(removed)
