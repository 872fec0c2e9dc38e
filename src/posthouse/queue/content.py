"""Small facts for relaying a queued message: whether its header needs SMTPUTF8, whether
it says "TLS-Required: No", and its recipients' addresses in ASCII form."""

from __future__ import annotations

from posthouse.delivery.headers import has_8bit
from posthouse.dns.idn import to_alabel
from posthouse.message.address import split_address
from posthouse.message.headers import header_block, split_header, unfold


def header_needs_utf8(data: bytes) -> bool:
    """Whether the header section has raw UTF-8 (RFC 6532), which needs SMTPUTF8 to relay."""
    return has_8bit(header_block(data))


def tls_optional(data: bytes) -> bool:
    """A "TLS-Required: No" field (RFC 8689 5): the sender prefers delivery over TLS
    policies (MTA-STS, DANE)."""
    found = split_header(data).first("tls-required")
    return found is not None and unfold(found.value).strip().lower() == b"no"


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
