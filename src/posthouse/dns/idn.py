"""Internationalized domain names in the form DNS and comparisons use: lower-case A-labels,
converted with IDNA 2008 (RFC 5890-5893) and the UTS 46 mapping through the maintained
``idna`` package (the standard library's "idna" codec is IDNA 2003: it maps "ß" to "ss" and
refuses newer code points, so it would look up a different domain).

An ASCII name is only lower-cased, never validated here: names with "_" (SPF/DKIM/DMARC
labels) or odd hyphens are legal DNS names even where IDNA refuses them as host names.
"""

from __future__ import annotations

import idna


def to_alabel(domain: str) -> str:
    """``domain`` as lower-case A-labels without a final dot; ValueError if a label is not
    a valid IDNA 2008 label."""
    name = domain.rstrip(".")
    if name.isascii():
        return name.lower()
    try:
        return idna.encode(name, uts46=True, transitional=False).decode("ascii").lower()
    except idna.IDNAError as exc:
        raise ValueError(f"cannot convert {domain!r} to A-labels: {exc}") from None


def canonical_domain(domain: str) -> str:
    """The A-label form for lookups and comparisons; ``domain`` lower-cased when it is not
    a valid IDN (it then matches nothing it should not)."""
    try:
        return to_alabel(domain)
    except ValueError:
        return domain.lower()


def canonical_address(address: str) -> str:
    """``local@domain`` with the domain in canonical form and the whole lower-cased (as
    posthouse compares addresses); text without "@" only lower-cased."""
    local, at, domain = address.rpartition("@")
    if not at:
        return address.lower()
    return f"{local.lower()}@{canonical_domain(domain)}"
