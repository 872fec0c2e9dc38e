"""Canonicalization and the hashed header data of DKIM-style signatures (RFC 6376 3.4, 3.7,
5.4.2), shared by DKIM-Signature verification and ARC (RFC 8617 5.1, which reuses them).

Pure functions over bytes; no keys, no DNS, no verdicts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from posthouse.mailauth.taglist import blank_tag
from posthouse.message.headers import Field

WSP_RUN = re.compile(rb"[ \t]+")
# Whitespace that relaxed canonicalization changes: a run that is not one SP already. Matching
# only those leaves the usual single spaces between words alone (ten times faster on text).
WSP_TO_SPACE = re.compile(rb"\t[ \t]*| [ \t]+")
LINE_END = re.compile(rb"\r?\n")


def canonical_field(raw: bytes, canon: str) -> bytes:
    """One field canonicalized, with its CRLF (RFC 6376 3.4.1 and 3.4.2)."""
    if canon == "simple":
        return raw if raw.endswith(b"\r\n") else raw + b"\r\n"
    name, _, value = raw.partition(b":")
    value = WSP_RUN.sub(b" ", LINE_END.sub(b"", value)).strip(b" ")
    return name.rstrip(b" \t").lower() + b":" + value + b"\r\n"


def canonical_body(body: bytes, canon: str) -> bytes:
    """RFC 6376 3.4.3 (simple) and 3.4.4 (relaxed; an empty body stays empty)."""
    if canon == "simple":
        return body.rstrip(b"\r\n") + b"\r\n"
    relaxed = WSP_TO_SPACE.sub(b" ", body).replace(b" \r\n", b"\r\n").rstrip(b" ")
    relaxed = relaxed.rstrip(b"\r\n")
    return relaxed + b"\r\n" if relaxed else b""


def unsigned_self(field: Field, canon: str) -> bytes:
    """The signature field itself as it is hashed: b= emptied, canonicalized, without the
    final CRLF (RFC 6376 3.7)."""
    raw = field.raw
    blanked = raw[: field.colon + 1] + blank_tag(raw[field.colon + 1 :], b"b")
    own = canonical_field(blanked, canon)
    return own[:-2] if own.endswith(b"\r\n") else own


def signed_header_data(names: Iterable[str], fields: Iterable[Field], own: Field,
                       canon: str) -> bytes:
    """The fields named in ``names`` (h=), each instance taken from the bottom up (RFC 6376
    5.4.2; a name without a remaining instance adds nothing), then ``own`` unsigned."""
    remaining: dict[str, list[Field]] = {}
    for f in fields:
        if f.name:
            remaining.setdefault(f.name.lower(), []).append(f)
    out: list[bytes] = []
    for name in names:
        instances = remaining.get(name)
        if instances:
            out.append(canonical_field(instances.pop().raw, canon))
    out.append(unsigned_self(own, canon))
    return b"".join(out)
