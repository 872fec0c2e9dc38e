"""Small byte-level facts about a queued message: trace fields to drop, what it needs."""

from __future__ import annotations

import re

from posthouse.delivery.headers import header_block
from posthouse.message.address import split_address
from posthouse.queue.mx import to_alabel

# One header field with its folded continuation lines.
_RETURN_PATH = re.compile(rb"\AReturn-Path[ \t]*:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*",
                          re.IGNORECASE)


def strip_return_path(data: bytes) -> bytes:
    """Drop a leading Return-Path field: it belongs to final delivery only, and a relay must
    not send one on (RFC 5321 4.4). Local copies of a message got one prepended."""
    return _RETURN_PATH.sub(b"", data, count=1)


def has_8bit(data: bytes) -> bool:
    """Whether any octet is above 127."""
    return not data.isascii()


def header_needs_utf8(data: bytes) -> bool:
    """Whether the header section has raw UTF-8 (RFC 6532), which needs SMTPUTF8 to relay."""
    return has_8bit(header_block(data))


def ascii_address(address: str) -> str | None:
    """The address with its domain in A-labels if that makes it ASCII (RFC 6531 3.2), else
    None (the local part itself is non-ASCII)."""
    local, domain = split_address(address)
    if not local.isascii():
        return None
    if "@" not in address:
        return address if address.isascii() else None
    try:
        return f"{local}@{to_alabel(domain)}"
    except ValueError:
        return None
